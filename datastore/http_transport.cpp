// The only translation unit of the client that includes Boost.Asio/Beast and OpenSSL.
//
// Every connection owns a private io_context and all I/O is asynchronous operations run to
// completion on the calling thread: that is what gives each step a deadline (beast::tcp_stream
// expiry) and lets another thread interrupt a watch stream by posting to that io_context.
#include "datastore/http_transport.h"

#include "common/strings.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdint>
#include <limits>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <optional>

namespace caracal::datastore {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string seconds(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

} // namespace

void HttpRequest::setHeader(std::string_view name, std::string value) {
  for (auto& h : headers) {
    if (iequals(h.first, name)) {
      h.second = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::string(name), std::move(value));
}

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.first, name)) {
      return &h.second;
    }
  }
  return nullptr;
}

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.first, name)) {
      return h.second;
    }
  }
  return "";
}

void StreamCancel::cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (interrupt_) {
    interrupt_();
  }
}

bool StreamCancel::setInterrupt(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_.load()) {
    return false;
  }
  interrupt_ = std::move(fn);
  return true;
}

void StreamCancel::clearInterrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  interrupt_ = nullptr;
}

bool ServerUrl::hostIsIp() const {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string ServerUrl::hostHeader() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if ((tls && port == "443") || (!tls && port == "80")) {
    return h;
  }
  return h + ":" + port;
}

Result<ServerUrl> parseServerUrl(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return Status(Code::Invalid, "server URL \"" + std::string(url) + "\": " + why);
  };
  ServerUrl out;
  std::string_view rest = url;
  size_t schemeEnd = rest.find("://");
  if (schemeEnd != std::string_view::npos) {
    std::string scheme = toLower(rest.substr(0, schemeEnd));
    if (scheme == "https") {
      out.tls = true;
    } else if (scheme == "http") {
      out.tls = false;
    } else {
      return bad("scheme must be http or https");
    }
    rest = rest.substr(schemeEnd + 3);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string prefix(rest.substr(slash));
    while (!prefix.empty() && prefix.back() == '/') {
      prefix.pop_back();
    }
    if (prefix.find_first_of("?#") != std::string::npos) {
      return bad("query or fragment not allowed");
    }
    out.pathPrefix = prefix;
  }
  std::string_view portPart;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return bad("missing ']' after IPv6 address");
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return bad("unexpected text after ']'");
      }
      portPart = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string_view::npos &&
        authority.find(':', colon + 1) != std::string_view::npos) {
      return bad("an IPv6 address must be written in brackets");
    }
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      portPart = authority.substr(colon + 1);
    }
  }
  if (out.host.empty()) {
    return bad("missing host");
  }
  if (out.host.find('@') != std::string::npos) {
    return bad("user information is not supported");
  }
  if (portPart.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    if (portPart.size() > 5 || !std::all_of(portPart.begin(), portPart.end(), ::isdigit)) {
      return bad("invalid port \"" + std::string(portPart) + "\"");
    }
    int p = std::stoi(std::string(portPart));
    if (p < 1 || p > 65535) {
      return bad("port out of range");
    }
    out.port = std::string(portPart);
  }
  return out;
}

namespace {

// One HTTP connection: plain TCP or TLS over TCP, with its own io_context.
struct Connection {
  asio::io_context ioc;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Runs queued asynchronous work until none is left.
  void run() {
    ioc.restart();
    ioc.run();
  }

  void setDeadline(Clock::time_point deadline) {
    if (deadline == Clock::time_point::max()) {
      lowest().expires_never();
    } else {
      lowest().expires_at(deadline);
    }
  }

  template <class Msg> beast::error_code write(Msg& msg) {
    beast::error_code ec;
    auto done = [&](beast::error_code e, size_t) { ec = e; };
    if (tls) {
      http::async_write(*tls, msg, done);
    } else {
      http::async_write(*plain, msg, done);
    }
    run();
    return ec;
  }

  template <class Parser> beast::error_code read(Parser& p) {
    beast::error_code ec;
    auto done = [&](beast::error_code e, size_t) { ec = e; };
    if (tls) {
      http::async_read(*tls, buffer, p, done);
    } else {
      http::async_read(*plain, buffer, p, done);
    }
    run();
    return ec;
  }

  template <class Parser> beast::error_code readSome(Parser& p) {
    beast::error_code ec;
    auto done = [&](beast::error_code e, size_t) { ec = e; };
    if (tls) {
      http::async_read_some(*tls, buffer, p, done);
    } else {
      http::async_read_some(*plain, buffer, p, done);
    }
    run();
    return ec;
  }

  template <class Parser> beast::error_code readHeader(Parser& p) {
    beast::error_code ec;
    auto done = [&](beast::error_code e, size_t) { ec = e; };
    if (tls) {
      http::async_read_header(*tls, buffer, p, done);
    } else {
      http::async_read_header(*plain, buffer, p, done);
    }
    run();
    return ec;
  }
};

bool isConnectionDrop(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

HttpHeaders copyHeaders(const http::fields& fields) {
  HttpHeaders out;
  for (const auto& f : fields) {
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

class BeastTransport : public HttpTransport {
public:
  BeastTransport(TransportConfig cfg, ServerUrl url)
      : cfg_(std::move(cfg)), url_(std::move(url)), sslCtx_(ssl::context::tls_client) {}

  Status init() {
    if (!url_.tls) {
      return Status::ok();
    }
    beast::error_code ec;
    sslCtx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (cfg_.insecureSkipTlsVerify) {
      sslCtx_.set_verify_mode(ssl::verify_none);
    } else {
      sslCtx_.set_verify_mode(ssl::verify_peer);
      if (!cfg_.caPem.empty()) {
        sslCtx_.add_certificate_authority(asio::buffer(cfg_.caPem), ec);
        if (ec) {
          return Status(Code::Invalid, "loading the certificate authority: " + ec.message());
        }
      } else {
        sslCtx_.set_default_verify_paths(ec);
        if (ec) {
          return Status(Code::Invalid,
                        "loading the system certificate authorities: " + ec.message());
        }
      }
    }
    if (!cfg_.clientCertPem.empty() || !cfg_.clientKeyPem.empty()) {
      sslCtx_.use_certificate_chain(asio::buffer(cfg_.clientCertPem), ec);
      if (ec) {
        return Status(Code::Invalid, "loading the client certificate: " + ec.message());
      }
      sslCtx_.use_private_key(asio::buffer(cfg_.clientKeyPem), ssl::context::pem, ec);
      if (ec) {
        return Status(Code::Invalid, "loading the client key: " + ec.message());
      }
    }
    return Status::ok();
  }

  Result<HttpResponse> send(const HttpRequest& req) override {
    Clock::time_point deadline = Clock::now() + cfg_.requestTimeout;
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Connection> conn = takeIdle();
      bool reused = conn != nullptr;
      if (!conn) {
        ASSIGN_OR_RETURN(conn, connect(deadline));
      }
      bool retry = false;
      bool keepAlive = false;
      Result<HttpResponse> r = exchange(*conn, req, deadline, reused, retry, keepAlive);
      if (retry && attempt == 0) {
        // The server closed an idle keep-alive connection before reading this request.
        continue;
      }
      if (r && keepAlive) {
        putIdle(std::move(conn));
      }
      return r;
    }
  }

  Result<HttpResponse> stream(const HttpRequest& req, const LineCallback& onLine,
                              const StreamOptions& opts) override {
    if (opts.cancel && opts.cancel->cancelled()) {
      return HttpResponse{};
    }
    Clock::time_point start = Clock::now();
    Clock::time_point deadline =
        opts.timeout.count() > 0 ? start + opts.timeout : Clock::time_point::max();
    Clock::time_point headDeadline = std::min(deadline, start + cfg_.requestTimeout);
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, connect(headDeadline));

    struct InterruptGuard {
      StreamCancel* cancel;
      ~InterruptGuard() {
        if (cancel) {
          cancel->clearInterrupt();
        }
      }
    } guard{opts.cancel.get()};
    if (opts.cancel) {
      Connection* c = conn.get();
      bool installed = opts.cancel->setInterrupt([c] {
        asio::post(c->ioc, [c] {
          beast::error_code ignored;
          c->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
          c->lowest().cancel();
        });
      });
      if (!installed) {
        return HttpResponse{};
      }
    }
    auto cancelled = [&] { return opts.cancel && opts.cancel->cancelled(); };

    http::request<http::string_body> msg;
    RETURN_IF_ERROR(buildRequest(req, msg));
    conn->setDeadline(headDeadline);
    beast::error_code ec = conn->write(msg);
    if (ec) {
      if (cancelled()) {
        return HttpResponse{};
      }
      return ioError("sending the request", ec, opts.timeout);
    }
    http::response_parser<http::buffer_body> p;
    // Watch streams are unbounded. (An explicit maximum rather than boost::none: this Beast version
    // compares the Content-Length against a disabled limit as if it were exceeded.)
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    ec = conn->readHeader(p);
    if (ec) {
      if (cancelled()) {
        return HttpResponse{};
      }
      return ioError("reading the response", ec, opts.timeout);
    }
    HttpResponse head;
    head.status = static_cast<int>(p.get().result_int());
    head.headers = copyHeaders(p.get().base());
    bool success = head.isSuccess();

    conn->setDeadline(success ? deadline : headDeadline);
    std::string pending;
    std::vector<char> buf(64 * 1024);
    while (!p.is_done()) {
      p.get().body().data = buf.data();
      p.get().body().size = buf.size();
      ec = conn->readSome(p);
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      size_t n = buf.size() - p.get().body().size;
      pending.append(buf.data(), n);
      if (!success) {
        if (pending.size() > cfg_.maxBodyBytes) {
          return Status(Code::TooLarge, "response body exceeds the limit of " +
                                            std::to_string(cfg_.maxBodyBytes) + " bytes");
        }
      } else {
        size_t startPos = 0;
        for (size_t nl; (nl = pending.find('\n', startPos)) != std::string::npos;
             startPos = nl + 1) {
          std::string_view line(pending.data() + startPos, nl - startPos);
          if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
          }
          if (!line.empty() && !onLine(line)) {
            return head;
          }
          if (cancelled()) {
            return head;
          }
        }
        pending.erase(0, startPos);
        if (pending.size() > cfg_.maxBodyBytes) {
          return Status(Code::TooLarge, "streamed line exceeds the limit of " +
                                            std::to_string(cfg_.maxBodyBytes) + " bytes");
        }
      }
      if (ec) {
        if (cancelled()) {
          return head;
        }
        if (ec == beast::error::timeout) {
          if (success && opts.timeout.count() > 0) {
            return Status(Code::Timeout, "stream reached its deadline of " + seconds(opts.timeout));
          }
          return ioError("reading the response", ec, cfg_.requestTimeout);
        }
        if (isConnectionDrop(ec) || ec == http::error::partial_message ||
            ec == asio::error::operation_aborted) {
          break; // the server ended the stream
        }
        return ioError("reading the response", ec, cfg_.requestTimeout);
      }
    }
    if (success) {
      if (!pending.empty()) {
        onLine(pending);
      }
    } else {
      head.body = std::move(pending);
    }
    return head;
  }

private:
  Status ioError(const std::string& what, const beast::error_code& ec,
                 std::chrono::milliseconds timeout) const {
    if (ec == beast::error::timeout) {
      return Status(Code::Timeout,
                    what + " from " + cfg_.server + ": timed out after " + seconds(timeout));
    }
    if (ec == http::error::body_limit) {
      return Status(Code::TooLarge, "response body from " + cfg_.server + " exceeds the limit of " +
                                        std::to_string(cfg_.maxBodyBytes) + " bytes");
    }
    return Status(Code::Unavailable, what + " from " + cfg_.server + ": " + ec.message());
  }

  Status buildRequest(const HttpRequest& req, http::request<http::string_body>& msg) const {
    http::verb verb = http::string_to_verb(req.method);
    if (verb == http::verb::unknown) {
      return Status(Code::BadRequest, "unsupported HTTP method \"" + req.method + "\"");
    }
    msg.method(verb);
    msg.target(url_.pathPrefix + req.target);
    msg.version(11);
    msg.set(http::field::host, url_.hostHeader());
    for (const auto& h : req.headers) {
      msg.set(h.first, h.second);
    }
    msg.keep_alive(true);
    msg.body() = req.body;
    if (!req.body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      msg.content_length(req.body.size());
    }
    return Status::ok();
  }

  Result<HttpResponse> exchange(Connection& conn, const HttpRequest& req,
                                Clock::time_point deadline, bool reused, bool& retry,
                                bool& keepAlive) {
    http::request<http::string_body> msg;
    RETURN_IF_ERROR(buildRequest(req, msg));
    conn.setDeadline(deadline);
    beast::error_code ec = conn.write(msg);
    if (ec) {
      retry = reused && isConnectionDrop(ec);
      return ioError("sending the request", ec, cfg_.requestTimeout);
    }
    http::response_parser<http::string_body> p;
    p.body_limit(cfg_.maxBodyBytes);
    ec = conn.readHeader(p);
    if (ec) {
      retry = reused && !p.got_some() && conn.buffer.size() == 0 && isConnectionDrop(ec);
      return ioError("reading the response", ec, cfg_.requestTimeout);
    }
    // The parser's own limit is not applied when the body arrives together with the header, so
    // the declared and the received sizes are checked here as well.
    auto tooLarge = [&] {
      return Status(Code::TooLarge, "response body from " + cfg_.server + " exceeds the limit of " +
                                        std::to_string(cfg_.maxBodyBytes) + " bytes");
    };
    if (p.content_length() && *p.content_length() > cfg_.maxBodyBytes) {
      return tooLarge();
    }
    ec = conn.read(p);
    if (ec) {
      return ioError("reading the response", ec, cfg_.requestTimeout);
    }
    if (p.get().body().size() > cfg_.maxBodyBytes) {
      return tooLarge();
    }
    HttpResponse out;
    out.status = static_cast<int>(p.get().result_int());
    out.headers = copyHeaders(p.get().base());
    keepAlive = p.get().keep_alive() && p.is_done();
    out.body = std::move(p.get().body());
    return out;
  }

  Result<std::unique_ptr<Connection>> connect(Clock::time_point deadline) {
    auto conn = std::make_unique<Connection>();
    tcp::resolver resolver(conn->ioc);
    beast::error_code ec;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url_.host, url_.port,
                           [&](beast::error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                           });
    conn->run();
    if (ec) {
      return Status(Code::Unavailable,
                    "resolving " + url_.host + " for " + cfg_.server + ": " + ec.message());
    }
    if (url_.tls) {
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(conn->ioc, sslCtx_);
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(conn->ioc);
    }
    Clock::time_point connectDeadline = std::min(deadline, Clock::now() + cfg_.connectTimeout);
    conn->setDeadline(connectDeadline);
    conn->lowest().async_connect(endpoints,
                                 [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    conn->run();
    if (ec) {
      if (ec == beast::error::timeout) {
        return Status(Code::Unavailable, "connecting to " + cfg_.server + ": timed out after " +
                                             seconds(cfg_.connectTimeout));
      }
      return Status(Code::Unavailable, "connecting to " + cfg_.server + ": " + ec.message());
    }
    beast::error_code ignored;
    conn->lowest().socket().set_option(tcp::no_delay(true), ignored);
    if (url_.tls) {
      RETURN_IF_ERROR(handshake(*conn, connectDeadline));
    }
    return conn;
  }

  Status handshake(Connection& conn, Clock::time_point deadline) {
    SSL* handle = conn.tls->native_handle();
    bool ip = url_.hostIsIp();
    if (!ip) {
      SSL_set_tlsext_host_name(handle, url_.host.c_str());
    }
    if (!cfg_.insecureSkipTlsVerify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(handle);
      int rc = 0;
      if (ip) {
        rc = X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str());
      } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        rc = X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), url_.host.size());
      }
      if (rc != 1) {
        return Status(Code::Invalid, "cannot verify TLS peer name \"" + url_.host + "\"");
      }
    }
    conn.setDeadline(deadline);
    beast::error_code ec;
    conn.tls->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    conn.run();
    if (ec) {
      std::string msg = "TLS handshake with " + cfg_.server + " failed: ";
      long verify = SSL_get_verify_result(handle);
      if (verify != X509_V_OK) {
        msg += std::string("certificate verification failed: ") +
               X509_verify_cert_error_string(verify);
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          msg += " (the certificate is not valid for \"" + url_.host + "\")";
        }
      } else if (ec == beast::error::timeout) {
        msg += "timed out";
      } else {
        msg += ec.message();
      }
      return Status(Code::Unavailable, msg);
    }
    return Status::ok();
  }

  std::unique_ptr<Connection> takeIdle() {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.empty()) {
      return nullptr;
    }
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }

  void putIdle(std::unique_ptr<Connection> c) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < cfg_.maxIdleConnections) {
      idle_.push_back(std::move(c));
    }
  }

  TransportConfig cfg_;
  ServerUrl url_;
  ssl::context sslCtx_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

} // namespace

Result<HttpTransportPtr> makeBeastTransport(const TransportConfig& cfg) {
  ASSIGN_OR_RETURN(ServerUrl url, parseServerUrl(cfg.server));
  auto t = std::make_unique<BeastTransport>(cfg, std::move(url));
  RETURN_IF_ERROR(t->init());
  return HttpTransportPtr(std::move(t));
}

} // namespace caracal::datastore
