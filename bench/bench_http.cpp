// The only benchmark translation unit that instantiates Boost.Beast / Boost.Asio.
#include "bench/bench_http.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

namespace caracal::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

Status loadCa(ssl::context& ctx, const std::string& caPem) {
  beast::error_code ec;
  ctx.add_certificate_authority(net::buffer(caPem), ec);
  if (ec) {
    return Status(Code::Invalid, "loading the CA: " + ec.message());
  }
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ec) {
    return Status(Code::Internal, "set_verify_mode: " + ec.message());
  }
  return Status::ok();
}

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

} // namespace

// ---------------------------------------------------------------------------------------------
// HttpsConnection

struct HttpsConnection::Impl {
  Endpoint endpoint;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream; // tls
  std::optional<beast::tcp_stream> plain;                     // !tls
  beast::flat_buffer buffer;
  std::string hostHeader;

  template <class S>
  Result<HttpResult> roundTrip(S& s, const std::string& method, const std::string& target,
                               const http::request<http::string_body>& req);
};

HttpsConnection::HttpsConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpsConnection::~HttpsConnection() {
  beast::error_code ec;
  if (impl_ && impl_->stream) {
    beast::get_lowest_layer(*impl_->stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(*impl_->stream).close();
  }
  if (impl_ && impl_->plain) {
    impl_->plain->socket().shutdown(tcp::socket::shutdown_both, ec);
    impl_->plain->close();
  }
}

Result<std::unique_ptr<HttpsConnection>> HttpsConnection::open(const Endpoint& endpoint) {
  auto impl = std::make_unique<Impl>();
  impl->endpoint = endpoint;
  impl->hostHeader = endpoint.host + ":" + std::to_string(endpoint.port);
  beast::error_code ec;
  auto addr = net::ip::make_address(endpoint.host, ec);
  if (ec) {
    return Status(Code::Invalid, "address " + endpoint.host + ": " + ec.message());
  }
  tcp::endpoint to(addr, endpoint.port);
  if (!endpoint.tls) {
    impl->plain.emplace(impl->ioc);
    impl->plain->socket().connect(to, ec);
    if (ec) {
      return Status(Code::Unavailable, "connect " + impl->hostHeader + ": " + ec.message());
    }
    impl->plain->socket().set_option(tcp::no_delay(true), ec);
    return std::unique_ptr<HttpsConnection>(new HttpsConnection(std::move(impl)));
  }
  RETURN_IF_ERROR(loadCa(impl->ctx, endpoint.caPem));
  impl->stream.emplace(impl->ioc, impl->ctx);
  auto& s = *impl->stream;
  s.set_verify_callback(ssl::host_name_verification(endpoint.host));
  beast::get_lowest_layer(s).socket().connect(to, ec);
  if (ec) {
    return Status(Code::Unavailable, "connect " + impl->hostHeader + ": " + ec.message());
  }
  beast::get_lowest_layer(s).socket().set_option(tcp::no_delay(true), ec);
  s.handshake(ssl::stream_base::client, ec);
  if (ec) {
    return Status(Code::Unavailable,
                  "TLS handshake with " + impl->hostHeader + ": " + ec.message());
  }
  return std::unique_ptr<HttpsConnection>(new HttpsConnection(std::move(impl)));
}

Result<HttpResult> HttpsConnection::request(const std::string& method, const std::string& target,
                                            const std::string& body) {
  Impl& c = *impl_;
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, c.hostHeader);
  req.set(http::field::authorization, "Bearer " + c.endpoint.token);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "caracal-bench");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();

  return c.stream ? c.roundTrip(*c.stream, method, target, req)
                  : c.roundTrip(*c.plain, method, target, req);
}

template <class S>
Result<HttpResult> HttpsConnection::Impl::roundTrip(S& s, const std::string& method,
                                                    const std::string& target,
                                                    const http::request<http::string_body>& req) {
  beast::error_code ec;
  auto t0 = Clock::now();
  http::write(s, req, ec);
  if (ec) {
    return Status(Code::Unavailable, method + " " + target + ": write: " + ec.message());
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.header_limit(64 * 1024);
  http::read_header(s, buffer, parser, ec);
  if (ec) {
    return Status(Code::Unavailable,
                  method + " " + target + ": reading the header: " + ec.message());
  }
  HttpResult out;
  out.headerSeconds = since(t0);
  http::read(s, buffer, parser, ec);
  if (ec) {
    return Status(Code::Unavailable, method + " " + target + ": reading the body: " + ec.message());
  }
  out.totalSeconds = since(t0);
  auto msg = parser.release();
  out.status = static_cast<int>(msg.result_int());
  out.body = std::move(msg.body());
  if (!msg.keep_alive()) {
    return Status(Code::Unavailable, method + " " + target + ": the server closed the connection");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// WatchFleet

namespace {

class Watcher;

} // namespace

struct WatchFleet::Impl {
  explicit Impl(WatchFleetOptions o) : opts(std::move(o)), ioc(opts.threads) {}

  WatchFleetOptions opts;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<Watcher>> watchers;
  std::string request;
  tcp::endpoint serverEp;

  std::atomic<uint64_t> events{0};
  std::atomic<size_t> ended{0};
  std::atomic<bool> stopping{false};
  std::atomic<size_t> closed{0};

  // Start-up: watchers launched, answered (200 header or failure).
  std::mutex mu;
  std::condition_variable cv;
  size_t launched = 0;
  size_t connected = 0;
  size_t failed = 0;
  std::string firstError;

  void launchNext();
  void onConnected();
  void onFailed(const std::string& why);
};

namespace {

class Watcher : public std::enable_shared_from_this<Watcher> {
public:
  Watcher(WatchFleet::Impl& fleet, size_t index) : fleet_(fleet), index_(index), rbuf_(64 * 1024) {
    result_.latencyUs.assign(fleet.opts.expectedEvents, kMissing);
    auto strand = net::make_strand(fleet.ioc);
    if (fleet.opts.endpoint.tls) {
      tls_.emplace(strand, fleet.ctx);
      tls_->set_verify_callback(ssl::host_name_verification(fleet.opts.endpoint.host));
    } else {
      plain_.emplace(strand);
    }
  }

  void start() {
    auto self = shared_from_this();
    socket().async_connect(fleet_.serverEp, [self](beast::error_code ec) {
      if (ec) {
        self->fail("connect: " + ec.message());
        return;
      }
      beast::error_code ig;
      self->socket().set_option(tcp::no_delay(true), ig);
      if (!self->tls_) {
        self->sendRequest();
        return;
      }
      self->tls_->async_handshake(ssl::stream_base::client, [self](beast::error_code ec2) {
        if (ec2) {
          self->fail("TLS handshake: " + ec2.message());
          return;
        }
        self->sendRequest();
      });
    });
  }

  void close() {
    auto self = shared_from_this();
    net::post(socket().get_executor(), [self] {
      beast::error_code ec;
      self->socket().shutdown(tcp::socket::shutdown_both, ec);
      self->socket().close(ec);
      self->fleet_.closed.fetch_add(1);
    });
  }

  const WatcherResult& result() const { return result_; }

private:
  enum class State { Header, ChunkSize, ChunkData, ChunkCrlf, Done };

  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  template <class F> void withStream(F f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  void sendRequest() {
    auto self = shared_from_this();
    withStream([&](auto& s) {
      net::async_write(s, net::buffer(fleet_.request), [self](beast::error_code ec, size_t) {
        if (ec) {
          self->fail("writing the request: " + ec.message());
          return;
        }
        self->read();
      });
    });
  }

  void read() {
    auto self = shared_from_this();
    withStream([&](auto& s) {
      s.async_read_some(net::buffer(rbuf_), [self](beast::error_code ec, size_t n) {
        int64_t t = nowNs();
        if (n > 0) {
          self->onBytes(self->rbuf_.data(), n, t);
        }
        if (ec) {
          self->endWith(ec == net::error::eof || ec == ssl::error::stream_truncated
                            ? "the server closed the connection"
                            : "read: " + ec.message());
          return;
        }
        if (self->state_ != State::Done) {
          self->read();
        }
      });
    });
  }

  void fail(const std::string& why) {
    if (!headerSeen_) {
      headerSeen_ = true;
      fleet_.onFailed("watcher " + std::to_string(index_) + ": " + why);
    }
    endWith(why);
  }

  void endWith(const std::string& why) {
    if (result_.ended || fleet_.stopping.load()) {
      return;
    }
    result_.ended = true;
    result_.endReason = why;
    state_ = State::Done;
    fleet_.ended.fetch_add(1);
    if (!headerSeen_) {
      headerSeen_ = true;
      fleet_.onFailed("watcher " + std::to_string(index_) + ": " + why);
    }
  }

  void onBytes(const char* data, size_t n, int64_t t) {
    pending_.append(data, n);
    uint64_t before = result_.events;
    bool body = false;
    size_t pos = 0;
    while (state_ != State::Done) {
      if (state_ == State::Header) {
        size_t end = pending_.find("\r\n\r\n", pos);
        if (end == std::string::npos) {
          break;
        }
        std::string_view head(pending_.data() + pos, end - pos);
        pos = end + 4;
        int status = 0;
        if (head.size() > 12) {
          status = std::atoi(std::string(head.substr(9, 3)).c_str());
        }
        headerSeen_ = true;
        if (status != 200) {
          std::string why = "HTTP " + std::to_string(status) + ": " +
                            pending_.substr(pos, std::min<size_t>(300, pending_.size() - pos));
          fleet_.onFailed("watcher " + std::to_string(index_) + ": " + why);
          endWith(why);
          break;
        }
        fleet_.onConnected();
        state_ = State::ChunkSize;
      } else if (state_ == State::ChunkSize) {
        size_t end = pending_.find("\r\n", pos);
        if (end == std::string::npos) {
          break;
        }
        size_t size = std::strtoul(pending_.c_str() + pos, nullptr, 16);
        pos = end + 2;
        if (size == 0) {
          endWith("the server ended the stream");
          break;
        }
        chunkLeft_ = size;
        state_ = State::ChunkData;
      } else if (state_ == State::ChunkData) {
        size_t take = std::min(chunkLeft_, pending_.size() - pos);
        if (take == 0) {
          break;
        }
        feed(pending_.data() + pos, take, t);
        body = true;
        pos += take;
        chunkLeft_ -= take;
        if (chunkLeft_ == 0) {
          state_ = State::ChunkCrlf;
        }
      } else if (state_ == State::ChunkCrlf) {
        if (pending_.size() - pos < 2) {
          break;
        }
        pos += 2;
        state_ = State::ChunkSize;
      }
    }
    pending_.erase(0, pos);
    if (body) {
      ++result_.reads;
    }
    if (result_.events != before) {
      fleet_.events.fetch_add(result_.events - before, std::memory_order_relaxed);
    }
  }

  // De-chunked body bytes: split into newline-terminated events.
  void feed(const char* data, size_t n, int64_t t) {
    result_.bytes += n;
    size_t start = 0;
    while (start < n) {
      const char* nl = static_cast<const char*>(std::memchr(data + start, '\n', n - start));
      if (!nl) {
        line_.append(data + start, n - start);
        return;
      }
      size_t len = static_cast<size_t>(nl - (data + start));
      if (line_.empty()) {
        onLine(std::string_view(data + start, len), t);
      } else {
        line_.append(data + start, len);
        onLine(line_, t);
        line_.clear();
      }
      start += len + 1;
    }
  }

  void onLine(std::string_view line, int64_t t) {
    if (line.empty()) {
      return;
    }
    static constexpr std::string_view kBookmark = "{\"type\":\"BOOKMARK\"";
    static constexpr std::string_view kError = "{\"type\":\"ERROR\"";
    if (line.substr(0, kBookmark.size()) == kBookmark) {
      return;
    }
    if (line.substr(0, kError.size()) == kError) {
      endWith("ERROR event: " + std::string(line.substr(0, 400)));
      return;
    }
    ++result_.events;
    const std::string& key = stampNeedle();
    size_t at = line.find(key);
    if (at == std::string_view::npos) {
      return;
    }
    const char* p = line.data() + at + key.size();
    const char* end = line.data() + line.size();
    char* q = nullptr;
    unsigned long long seq = std::strtoull(p, &q, 10);
    if (q >= end || *q != ':') {
      return;
    }
    long long sent = std::strtoll(q + 1, nullptr, 10);
    if (seq >= result_.latencyUs.size() || sent <= 0) {
      return;
    }
    int64_t us = (t - sent) / 1000;
    uint32_t v = us < 0 ? 0 : us >= kMissing ? kMissing - 1 : static_cast<uint32_t>(us);
    if (result_.latencyUs[seq] == kMissing) {
      result_.latencyUs[seq] = v;
      ++result_.stamped;
    }
  }

  const std::string& stampNeedle() {
    if (needle_.empty()) {
      needle_ = "\"" + fleet_.opts.stampKey + "\":\"";
    }
    return needle_;
  }

  WatchFleet::Impl& fleet_;
  size_t index_;
  std::optional<ssl::stream<tcp::socket>> tls_;
  std::optional<tcp::socket> plain_;
  std::vector<char> rbuf_;
  std::string pending_;
  std::string line_;
  std::string needle_;
  State state_ = State::Header;
  size_t chunkLeft_ = 0;
  bool headerSeen_ = false;
  WatcherResult result_;
};

} // namespace

void WatchFleet::Impl::launchNext() {
  std::shared_ptr<Watcher> w;
  {
    std::lock_guard<std::mutex> lk(mu);
    if (launched >= watchers.size() || stopping.load()) {
      return;
    }
    w = watchers[launched++];
  }
  w->start();
}

void WatchFleet::Impl::onConnected() {
  {
    std::lock_guard<std::mutex> lk(mu);
    ++connected;
  }
  cv.notify_all();
  launchNext();
}

void WatchFleet::Impl::onFailed(const std::string& why) {
  {
    std::lock_guard<std::mutex> lk(mu);
    ++failed;
    if (firstError.empty()) {
      firstError = why;
    }
  }
  cv.notify_all();
  launchNext();
}

WatchFleet::WatchFleet(WatchFleetOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

WatchFleet::~WatchFleet() { stop(); }

Status WatchFleet::start() {
  Impl& f = *impl_;
  if (f.opts.endpoint.tls) {
    RETURN_IF_ERROR(loadCa(f.ctx, f.opts.endpoint.caPem));
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(f.opts.endpoint.host, ec);
  if (ec) {
    return Status(Code::Invalid, "address " + f.opts.endpoint.host + ": " + ec.message());
  }
  f.serverEp = tcp::endpoint(addr, f.opts.endpoint.port);
  f.request = "GET " + f.opts.target + " HTTP/1.1\r\nHost: " + f.opts.endpoint.host + ":" +
              std::to_string(f.opts.endpoint.port) + "\r\nAuthorization: Bearer " +
              f.opts.endpoint.token +
              "\r\nAccept: application/json\r\nUser-Agent: caracal-bench\r\n\r\n";
  for (int i = 0; i < f.opts.connections; ++i) {
    f.watchers.push_back(std::make_shared<Watcher>(f, static_cast<size_t>(i)));
  }
  f.guard.emplace(f.ioc.get_executor());
  for (int i = 0; i < std::max(1, f.opts.threads); ++i) {
    f.threads.emplace_back([&f] { f.ioc.run(); });
  }
  for (int i = 0; i < std::max(1, f.opts.maxConnecting); ++i) {
    net::post(f.ioc, [&f] { f.launchNext(); });
  }
  std::unique_lock<std::mutex> lk(f.mu);
  bool done = f.cv.wait_for(lk, f.opts.connectTimeout,
                            [&f] { return f.connected + f.failed >= f.watchers.size(); });
  if (f.failed > 0) {
    return Status(Code::Unavailable, std::to_string(f.failed) + " of " +
                                         std::to_string(f.watchers.size()) +
                                         " watches failed to open; first: " + f.firstError);
  }
  if (!done) {
    return Status(Code::Timeout, "only " + std::to_string(f.connected) + " of " +
                                     std::to_string(f.watchers.size()) + " watches opened within " +
                                     std::to_string(f.opts.connectTimeout.count()) + " s");
  }
  return Status::ok();
}

uint64_t WatchFleet::eventsReceived() const { return impl_->events.load(); }

size_t WatchFleet::endedCount() const { return impl_->ended.load(); }

void WatchFleet::stop() {
  Impl& f = *impl_;
  if (f.threads.empty()) {
    return;
  }
  f.stopping.store(true);
  for (auto& w : f.watchers) {
    w->close();
  }
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (f.closed.load() < f.watchers.size() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.guard.reset();
  f.ioc.stop();
  for (auto& t : f.threads) {
    t.join();
  }
  f.threads.clear();
}

std::vector<WatcherResult> WatchFleet::results() const {
  std::vector<WatcherResult> out;
  out.reserve(impl_->watchers.size());
  for (const auto& w : impl_->watchers) {
    out.push_back(w->result());
  }
  return out;
}

} // namespace caracal::bench
