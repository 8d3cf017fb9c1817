// The transport's limits, over real loopback sockets: oversized bodies, unauthenticated requests,
// and a watcher that stops reading (it must be dropped with a reason, not buffered without bound).
#include "apiserver/http_server.h"
#include "datastore/store_engine.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace caracal::apiserver {
namespace {

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until the peer closes or `timeoutMs` of silence.
std::string readAll(int fd, int timeoutMs) {
  std::string out;
  char buf[65536];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) {
      break;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class HttpServerTest : public ::testing::Test {
protected:
  void SetUp() override {
    engine_ = datastore::makeMemoryEngine({});
    HandlerOptions ho;
    ho.token = "tok";
    handler_ = std::make_unique<Handler>(*engine_, ho);
    ServerOptions so;
    so.port = 0;
    so.tls = false;
    so.bodyLimit = 64 * 1024;
    so.watchQueueLimit = 256 * 1024;
    server_ = std::make_unique<HttpServer>(*handler_, so);
    ASSERT_TRUE(server_->start().isOk());
  }
  void TearDown() override {
    server_->stop();
    server_.reset();
    handler_.reset();
  }
  std::string request(const std::string& method, const std::string& path, const std::string& body,
                      const std::string& token = "tok") {
    int fd = connectTo(server_->port());
    EXPECT_GE(fd, 0);
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    if (!token.empty()) {
      req += "Authorization: Bearer " + token + "\r\n";
    }
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
    sendAll(fd, req);
    std::string resp = readAll(fd, 5000);
    ::close(fd);
    return resp;
  }

  datastore::EnginePtr engine_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, UnauthenticatedRequestsGet401AndNothingElse) {
  std::string r = request("GET", "/version", "", "");
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_NE(r.find("\"reason\":\"Unauthorized\""), std::string::npos);
  EXPECT_EQ(r.find("gitVersion"), std::string::npos);
  r = request("GET", "/version", "");
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST_F(HttpServerTest, OversizedBodyGets413AndStoresNothing) {
  std::string big(100 * 1024, 'x');
  std::string r = request("POST", "/api/v1/namespaces", big);
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r.substr(0, 200);
  EXPECT_NE(r.find("exceeds the limit"), std::string::npos);
  EXPECT_EQ(engine_->currentRevision(), 0);
}

TEST_F(HttpServerTest, SlowWatcherIsDroppedWithAReason) {
  int fd = connectTo(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(sendAll(fd, "GET /api/v1/namespaces?watch=true HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer tok\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // 200 events of ~100 KiB each (20 MB): more than the socket buffers hold, and far more than
  // the 256 KiB the watcher may fall behind.
  std::string pad(100 * 1024, 'a');
  for (int i = 0; i < 200; ++i) {
    std::string body = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns-)" +
                       std::to_string(i) + R"(","annotations":{"pad":")" + pad + R"("}}})";
    auto r = handler_->handle([&] {
      Request q;
      q.method = "POST";
      q.path = "/api/v1/namespaces";
      q.body = body;
      q.headers["content-type"] = "application/json";
      return q;
    }());
    ASSERT_EQ(r.response.status, 201) << r.response.body;
  }
  // Now read: the stream must end with the ERROR event naming the reason, well before all 200
  // events were delivered.
  std::string got = readAll(fd, 3000);
  ::close(fd);
  EXPECT_NE(got.find("fell more than"), std::string::npos) << got.size();
  size_t events = 0;
  for (size_t p = got.find("\"type\":\"ADDED\""); p != std::string::npos;
       p = got.find("\"type\":\"ADDED\"", p + 1)) {
    ++events;
  }
  EXPECT_LT(events, 200u);
}

} // namespace
} // namespace caracal::apiserver
