// The Beast transport against a small in-process HTTP/1.1 server on 127.0.0.1 (plain and TLS with
// certificates made by the test).
#include "datastore/http_transport.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <functional>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <mutex>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <thread>

namespace caracal::datastore {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;

// ---- certificates ----

struct KeyPair {
  std::string certPem;
  std::string keyPem;
};

std::string pemOf(const std::function<int(BIO*)>& write) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, size_t(len));
  BIO_free(bio);
  return out;
}

void addExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn`, signed by `ca` (self-signed when ca is null). `san` like
// "IP:127.0.0.1,DNS:localhost"; empty for a CA.
struct Issued {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  KeyPair pem;
  ~Issued() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

void issue(Issued& out, const char* cn, const Issued* ca, const std::string& san) {
  out.key = EVP_EC_gen("P-256");
  ASSERT_NE(out.key, nullptr);
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 3600);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* issuerCert = ca ? ca->cert : out.cert;
  X509_set_issuer_name(out.cert, X509_get_subject_name(issuerCert));
  if (san.empty()) {
    addExt(out.cert, issuerCert, NID_basic_constraints, "critical,CA:TRUE");
    addExt(out.cert, issuerCert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExt(out.cert, issuerCert, NID_basic_constraints, "critical,CA:FALSE");
    addExt(out.cert, issuerCert, NID_subject_alt_name, san.c_str());
  }
  ASSERT_GT(X509_sign(out.cert, ca ? ca->key : out.key, EVP_sha256()), 0);
  out.pem.certPem = pemOf([&](BIO* b) { return PEM_write_bio_X509(b, out.cert); });
  out.pem.keyPem = pemOf([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, out.key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

// ---- server ----

struct Seen {
  std::string method;
  std::string target;
  std::string host;
  std::string body;
};

class TestServer {
public:
  // What the handler may do with one request.
  enum class After { KeepOpen, CloseSilently };
  using Handler = std::function<After(const http::request<http::string_body>&,
                                      const std::function<void(std::string_view)>& writeRaw)>;

  TestServer(Handler handler, const KeyPair* tls = nullptr)
      : handler_(std::move(handler)),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (tls) {
      sslCtx_ = std::make_unique<ssl::context>(ssl::context::tls_server);
      sslCtx_->use_certificate_chain(asio::buffer(tls->certPem));
      sslCtx_->use_private_key(asio::buffer(tls->keyPem), ssl::context::pem);
    }
    port_ = acceptor_.local_endpoint().port();
    acceptThread_ = std::thread([this] { acceptLoop(); });
  }

  ~TestServer() {
    stopping_ = true;
    {
      // Wake the blocking accept with a connection of our own.
      asio::io_context ioc;
      tcp::socket s(ioc);
      beast::error_code ec;
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    }
    acceptThread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) {
        ::shutdown(fd, SHUT_RDWR);
      }
    }
    for (auto& t : connThreads_) {
      t.join();
    }
  }

  std::string url(const std::string& host = "127.0.0.1") const {
    return std::string(sslCtx_ ? "https://" : "http://") + host + ":" + std::to_string(port_);
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  bool stopping() const { return stopping_.load(); }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

private:
  void acceptLoop() {
    while (true) {
      tcp::socket sock(ioc_);
      beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (stopping_ || ec) {
        return;
      }
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(sock.native_handle());
      connThreads_.emplace_back([this, s = std::move(sock)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(tcp::socket sock) {
    if (sslCtx_) {
      beast::ssl_stream<tcp::socket> stream(std::move(sock), *sslCtx_);
      beast::error_code ec;
      stream.handshake(ssl::stream_base::server, ec);
      if (!ec) {
        loop(stream);
      }
      return;
    }
    loop(sock);
  }

  template <class Stream> void loop(Stream& stream) {
    beast::flat_buffer buffer;
    while (!stopping_) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(stream, buffer, req, ec);
      if (ec) {
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back({std::string(req.method_string()), std::string(req.target()),
                         std::string(req[http::field::host]), req.body()});
      }
      After after = handler_(req, [&](std::string_view bytes) {
        beast::error_code wec;
        asio::write(stream, asio::buffer(bytes.data(), bytes.size()), wec);
      });
      if (after == After::CloseSilently) {
        return;
      }
    }
  }

  Handler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::unique_ptr<ssl::context> sslCtx_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptThread_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> connThreads_;
  std::vector<Seen> seen_;
};

std::string response(int status, const std::string& body, bool close = false) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) {
    r += "Connection: close\r\n";
  }
  return r + "\r\n" + body;
}

std::string chunk(const std::string& data) {
  char hex[32];
  snprintf(hex, sizeof hex, "%zx", data.size());
  return std::string(hex) + "\r\n" + data + "\r\n";
}

// Routes used by most tests.
TestServer::After route(TestServer* self, const http::request<http::string_body>& req,
                        const std::function<void(std::string_view)>& write) {
  std::string target(req.target());
  if (target == "/echo") {
    write(response(200, std::string(req.method_string()) + " " + req.body()));
  } else if (target == "/big") {
    write(response(200, std::string(5000, 'x')));
  } else if (target == "/oneshot") {
    write(response(200, "once"));
    return TestServer::After::CloseSilently; // no "Connection: close": the client finds out later
  } else if (target == "/lines") {
    write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    write(chunk("{\"n\":1}\n{\"n\""));
    write(chunk(":2}\n"));
    write(chunk("\n{\"n\":3}"));
    write("0\r\n\r\n");
  } else if (target == "/forever") {
    write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    write(chunk("first\n"));
    for (int i = 0; i < 500 && !self->stopping(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return TestServer::After::CloseSilently;
  } else {
    write(response(404, R"({"kind":"Status","reason":"NotFound"})"));
  }
  return TestServer::After::KeepOpen;
}

TestServer::Handler routes(TestServer** self) {
  return [self](const http::request<http::string_body>& req,
                const std::function<void(std::string_view)>& write) {
    return route(*self, req, write);
  };
}

struct Plain {
  TestServer* self = nullptr;
  TestServer server{routes(&self)};
  Plain() { self = &server; }
};

HttpTransportPtr transportFor(const std::string& url, TransportConfig cfg = {}) {
  cfg.server = url;
  auto t = makeBeastTransport(cfg);
  EXPECT_TRUE(t) << t.error().str();
  return t ? std::move(t).value() : nullptr;
}

HttpRequest request(const std::string& method, const std::string& target,
                    const std::string& body = "") {
  HttpRequest r;
  r.method = method;
  r.target = target;
  r.body = body;
  return r;
}

// ---- tests ----

TEST(ServerUrlTest, Parses) {
  auto u = parseServerUrl("https://127.0.0.1:6443");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "6443");
  EXPECT_TRUE(u->hostIsIp());
  EXPECT_EQ(u->hostHeader(), "127.0.0.1:6443");

  u = parseServerUrl("http://[::1]:8080/prefix/");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->pathPrefix, "/prefix");
  EXPECT_EQ(u->hostHeader(), "[::1]:8080");

  u = parseServerUrl("api.example");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, "443");
  EXPECT_FALSE(u->hostIsIp());
  EXPECT_EQ(u->hostHeader(), "api.example");

  for (const char* bad : {"ftp://x", "https://", "https://::1:80", "https://h:0", "https://h:99999",
                          "https://h:8x", "https://[::1"}) {
    auto r = parseServerUrl(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.code(), Code::Invalid);
      EXPECT_THAT(r.error().message(), HasSubstr(bad));
    }
  }
}

TEST(HeadersTest, CaseInsensitive) {
  HttpRequest r;
  r.setHeader("Content-Type", "a");
  r.setHeader("content-type", "b");
  ASSERT_EQ(r.headers.size(), 1u);
  ASSERT_NE(r.header("CONTENT-TYPE"), nullptr);
  EXPECT_EQ(*r.header("CONTENT-TYPE"), "b");
  HttpResponse resp;
  resp.headers = {{"X-A", "1"}};
  EXPECT_EQ(resp.header("x-a"), "1");
  EXPECT_EQ(resp.header("x-b"), "");
}

TEST(BeastTransportTest, SendsAndReusesTheConnection) {
  Plain p;
  auto t = transportFor(p.server.url());
  ASSERT_TRUE(t);
  for (int i = 0; i < 3; ++i) {
    auto r = t->send(request("POST", "/echo", "body" + std::to_string(i)));
    ASSERT_TRUE(r) << r.error().str();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST body" + std::to_string(i));
    EXPECT_EQ(r->header("content-type"), "application/json");
  }
  EXPECT_EQ(p.server.connections(), 1);
  auto seen = p.server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].host, "127.0.0.1:" + std::to_string(p.server.port()));
}

TEST(BeastTransportTest, ErrorStatusIsAResponse) {
  Plain p;
  auto t = transportFor(p.server.url());
  auto r = t->send(request("GET", "/nothing-here"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("NotFound"));
}

TEST(BeastTransportTest, RetriesOnceWhenTheServerDroppedAnIdleConnection) {
  Plain p;
  auto t = transportFor(p.server.url());
  auto first = t->send(request("GET", "/oneshot"));
  ASSERT_TRUE(first) << first.error().str();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto second = t->send(request("GET", "/echo"));
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_EQ(second->body, "GET ");
  EXPECT_EQ(p.server.connections(), 2);
}

TEST(BeastTransportTest, BodyLimit) {
  Plain p;
  TransportConfig cfg;
  cfg.maxBodyBytes = 1000;
  auto t = transportFor(p.server.url(), cfg);
  auto r = t->send(request("GET", "/big"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::TooLarge);
  // The default limit is generous.
  auto big = transportFor(p.server.url())->send(request("GET", "/big"));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->body.size(), 5000u);
}

TEST(BeastTransportTest, ConnectionRefusedIsUnavailable) {
  int port;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto t = transportFor("http://127.0.0.1:" + std::to_string(port));
  auto r = t->send(request("GET", "/"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Unavailable);
  EXPECT_THAT(r.error().message(), HasSubstr("connecting to http://127.0.0.1:"));
}

TEST(BeastTransportTest, StreamsLinesAcrossChunks) {
  Plain p;
  auto t = transportFor(p.server.url());
  std::vector<std::string> lines;
  auto r = t->stream(request("GET", "/lines"),
                     [&](std::string_view l) {
                       lines.emplace_back(l);
                       return true;
                     },
                     {});
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"}));
}

TEST(BeastTransportTest, StreamStopsWhenTheCallbackSaysSo) {
  Plain p;
  auto t = transportFor(p.server.url());
  int calls = 0;
  auto r = t->stream(request("GET", "/lines"),
                     [&](std::string_view) {
                       ++calls;
                       return false;
                     },
                     {});
  ASSERT_TRUE(r);
  EXPECT_EQ(calls, 1);
}

TEST(BeastTransportTest, StreamCanBeCancelledFromAnotherThread) {
  Plain p;
  auto t = transportFor(p.server.url());
  StreamOptions opts;
  opts.cancel = std::make_shared<StreamCancel>();
  std::atomic<bool> gotFirst{false};
  auto started = std::chrono::steady_clock::now();
  std::thread canceller([&] {
    while (!gotFirst) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    opts.cancel->cancel();
  });
  auto r = t->stream(
      request("GET", "/forever"),
      [&](std::string_view l) {
        EXPECT_EQ(l, "first");
        gotFirst = true;
        return true;
      },
      opts);
  canceller.join();
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));

  // A token cancelled up front returns at once without a request.
  int before = p.server.connections();
  auto again = t->stream(
      request("GET", "/forever"), [](std::string_view) { return true; }, opts);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 0);
  EXPECT_EQ(p.server.connections(), before);
}

TEST(BeastTransportTest, StreamDeadline) {
  Plain p;
  auto t = transportFor(p.server.url());
  StreamOptions opts;
  opts.timeout = std::chrono::milliseconds(200);
  auto r = t->stream(
      request("GET", "/forever"), [](std::string_view) { return true; }, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Timeout);
}

TEST(BeastTransportTest, StreamErrorStatusReturnsTheBody) {
  Plain p;
  auto t = transportFor(p.server.url());
  int calls = 0;
  auto r = t->stream(request("GET", "/missing"),
                     [&](std::string_view) {
                       ++calls;
                       return true;
                     },
                     {});
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("NotFound"));
  EXPECT_EQ(calls, 0);
}

class TlsTest : public ::testing::Test {
protected:
  void SetUp() override {
    issue(ca_, "test-ca", nullptr, "");
    issue(leaf_, "apiserver", &ca_, "IP:127.0.0.1,DNS:caracal.test");
    issue(otherCa_, "other-ca", nullptr, "");
    server_ = std::make_unique<TestServer>(
        [this](const http::request<http::string_body>& req,
               const std::function<void(std::string_view)>& write) {
          return route(server_.get(), req, write);
        },
        &leaf_.pem);
  }

  Issued ca_, leaf_, otherCa_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(TlsTest, VerifiesAgainstTheConfiguredCa) {
  TransportConfig cfg;
  cfg.caPem = ca_.pem.certPem;
  auto t = transportFor(server_->url(), cfg);
  ASSERT_TRUE(t);
  auto r = t->send(request("GET", "/echo"));
  ASSERT_TRUE(r) << r.error().str();
  EXPECT_EQ(r->body, "GET ");
  auto s = t->stream(request("GET", "/lines"), [](std::string_view) { return true; }, {});
  ASSERT_TRUE(s) << s.error().str();
  EXPECT_EQ(s->status, 200);
}

TEST_F(TlsTest, RejectsAnUnknownCa) {
  TransportConfig cfg;
  cfg.caPem = otherCa_.pem.certPem;
  auto r = transportFor(server_->url(), cfg)->send(request("GET", "/echo"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Code::Unavailable);
  EXPECT_THAT(r.error().message(), HasSubstr("certificate verification failed"));
}

TEST_F(TlsTest, RejectsAHostTheCertificateDoesNotName) {
  // "localhost" resolves to the server, but the certificate names 127.0.0.1 and caracal.test only.
  TransportConfig cfg;
  cfg.caPem = ca_.pem.certPem;
  auto r = transportFor(server_->url("localhost"), cfg)->send(request("GET", "/echo"));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("not valid for \"localhost\""));
}

TEST_F(TlsTest, InsecureSkipsVerification) {
  TransportConfig cfg;
  cfg.caPem = otherCa_.pem.certPem;
  cfg.insecureSkipTlsVerify = true;
  auto r = transportFor(server_->url("localhost"), cfg)->send(request("GET", "/echo"));
  ASSERT_TRUE(r) << r.error().str();
}

TEST_F(TlsTest, BadCaMaterialIsReportedUpFront) {
  TransportConfig cfg;
  cfg.server = server_->url();
  cfg.caPem = "not a certificate";
  auto t = makeBeastTransport(cfg);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.code(), Code::Invalid);
}

TEST_F(TlsTest, PlainHttpClientAgainstTlsServerFails) {
  TransportConfig cfg;
  cfg.requestTimeout = std::chrono::milliseconds(2000);
  auto r = transportFor("http://127.0.0.1:" + std::to_string(server_->port()), cfg)
               ->send(request("GET", "/echo"));
  EXPECT_FALSE(r);
}

} // namespace
} // namespace caracal::datastore
