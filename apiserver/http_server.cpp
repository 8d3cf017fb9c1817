// The only translation unit of the server that instantiates Boost.Beast.
#include "apiserver/http_server.h"

#include "common/strings.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <mutex>
#include <thread>

namespace caracal::apiserver {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

int hexVal(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string percentDecode(std::string_view s, bool plusIsSpace) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexVal(s[i + 1]) >= 0 && hexVal(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexVal(s[i + 1]) * 16 + hexVal(s[i + 2])));
      i += 2;
    } else if (plusIsSpace && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

Request toRequest(const http::request<http::string_body>& msg) {
  Request r;
  r.method = std::string(msg.method_string());
  std::string_view target(msg.target().data(), msg.target().size());
  size_t q = target.find('?');
  r.path = percentDecode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    for (const auto& part : split(target.substr(q + 1), '&')) {
      if (part.empty()) {
        continue;
      }
      size_t eq = part.find('=');
      std::string k = percentDecode(std::string_view(part).substr(0, eq), true);
      std::string v = eq == std::string::npos
                          ? std::string()
                          : percentDecode(std::string_view(part).substr(eq + 1), true);
      r.query[k] = v;
    }
  }
  for (const auto& f : msg) {
    r.headers[toLower(std::string(f.name_string()))] = std::string(f.value());
  }
  r.body = msg.body();
  return r;
}

} // namespace

struct HttpServer::Impl {
  Handler& handler;
  ServerOptions opts;
  net::io_context ioc;
  std::unique_ptr<ssl::context> sslCtx;
  tcp::acceptor acceptor{ioc};
  net::thread_pool workers;
  std::vector<std::thread> threads;
  uint16_t boundPort = 0;
  bool stopped = false;

  Impl(Handler& h, ServerOptions o)
      : handler(h), opts(std::move(o)), ioc(opts.ioThreads),
        workers(static_cast<size_t>(std::max(1, opts.workerThreads))) {}

  void accept();
};

namespace {

// One connection. `Stream` is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <class Stream> class Session : public std::enable_shared_from_this<Session<Stream>> {
public:
  Session(HttpServer::Impl& server, Stream stream) : server_(server), stream_(std::move(stream)) {}

  void run() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(10));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) {
                                  self->readRequest();
                                }
                              });
    } else {
      net::dispatch(stream_.get_executor(),
                    [self = this->shared_from_this()] { self->readRequest(); });
    }
  }

  // --- watch streaming, called through the sink from any thread ---
  bool enqueue(std::shared_ptr<const std::string> chunk) {
    std::lock_guard<std::mutex> lk(mu_);
    if (closing_) {
      return false;
    }
    if (pendingBytes_ + chunk->size() > server_.opts.watchQueueLimit) {
      closing_ = true;
      lastChunk_ = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                   "\"metadata\":{},\"status\":\"Failure\",\"message\":\"watch closed: the client "
                   "fell more than " +
                   std::to_string(server_.opts.watchQueueLimit) +
                   " bytes behind; relist and watch again\",\"reason\":\"TooManyRequests\","
                   "\"code\":429}}\n";
      // What is queued still goes out, but a client that reads nothing at all is cut off.
      net::post(stream_.get_executor(), [self = this->shared_from_this()] {
        beast::get_lowest_layer(self->stream_).expires_after(std::chrono::seconds(10));
        self->pump();
      });
      return false;
    }
    pendingBytes_ += chunk->size();
    queue_.push_back(std::move(chunk));
    if (!pumpScheduled_) {
      pumpScheduled_ = true;
      net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->pump(); });
    }
    return true;
  }

  void closeStream(std::string last) {
    std::lock_guard<std::mutex> lk(mu_);
    if (closing_) {
      return;
    }
    closing_ = true;
    lastChunk_ = std::move(last);
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->pump(); });
  }

private:
  class Sink : public StreamSink {
  public:
    explicit Sink(std::weak_ptr<Session> s) : s_(std::move(s)) {}
    bool send(std::shared_ptr<const std::string> chunk) override {
      auto s = s_.lock();
      return s && s->enqueue(std::move(chunk));
    }
    void close(std::string last) override {
      if (auto s = s_.lock()) {
        s->closeStream(std::move(last));
      }
    }

  private:
    std::weak_ptr<Session> s_;
  };

  void readRequest() {
    parser_.emplace();
    parser_->body_limit(server_.opts.bodyLimit);
    parser_->header_limit(64 * 1024);
    beast::get_lowest_layer(stream_).expires_after(server_.opts.requestTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      writeError(Status(Code::TooLarge, "the request body exceeds the limit of " +
                                            std::to_string(server_.opts.bodyLimit) + " bytes"),
                 false);
      return;
    }
    if (ec) {
      shutdown();
      return;
    }
    req_ = parser_->release();
    keepAlive_ = req_.keep_alive();
    auto self = this->shared_from_this();
    net::post(server_.workers, [self] {
      Request r = toRequest(self->req_);
      Reply reply = self->server_.handler.authenticate(r) ? self->server_.handler.handle(r)
                                                          : self->server_.handler.unauthorized();
      net::post(self->stream_.get_executor(),
                [self, reply = std::move(reply)]() mutable { self->respond(std::move(reply)); });
    });
  }

  void writeError(const Status& st, bool keepAlive) {
    Reply r;
    r.response = Handler::errorResponse(st);
    keepAlive_ = keepAlive;
    respond(std::move(r));
  }

  void respond(Reply reply) {
    if (reply.stream) {
      startStream(std::move(reply));
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.response.status), req_.version());
    res->set(http::field::server, "caracal-apiserver");
    res->set(http::field::content_type, reply.response.contentType);
    res->set(http::field::cache_control, "no-cache, private");
    res->keep_alive(keepAlive_);
    res->body() = std::move(reply.response.body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) {
                          self->shutdown();
                          return;
                        }
                        self->readRequest();
                      });
  }

  void startStream(Reply reply) {
    stream_obj_ = reply.stream;
    streamRes_.emplace(static_cast<http::status>(reply.response.status), req_.version());
    streamRes_->set(http::field::server, "caracal-apiserver");
    streamRes_->set(http::field::content_type, reply.response.contentType);
    streamRes_->set(http::field::cache_control, "no-cache, private");
    streamRes_->chunked(true);
    streamSer_.emplace(*streamRes_);
    beast::get_lowest_layer(stream_).expires_never();
    http::async_write_header(
        stream_, *streamSer_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (ec) {
            self->endStream();
            return;
          }
          self->watchPeer();
          self->stream_obj_->start(std::make_shared<Sink>(self->weak_from_this()));
        });
  }

  // A watching client sends nothing more; any read completion means it went away.
  void watchPeer() {
    stream_.async_read_some(net::buffer(peerBuf_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->endStream();
                              } else {
                                self->watchPeer();
                              }
                            });
  }

  // Writes queued chunks (coalesced), then the last chunk when closing. Runs on the strand.
  void pump() {
    if (writing_ || ended_) {
      return;
    }
    std::vector<std::shared_ptr<const std::string>> batch;
    bool finish = false;
    std::string last;
    {
      std::lock_guard<std::mutex> lk(mu_);
      pumpScheduled_ = false;
      while (!queue_.empty() && batch.size() < 256) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (batch.empty() && closing_) {
        finish = true;
        last = std::move(lastChunk_);
      }
    }
    if (finish) {
      writing_ = true;
      auto text = std::make_shared<std::string>(std::move(last));
      auto done = [self = this->shared_from_this(), text](beast::error_code, size_t) {
        self->writing_ = false;
        self->endStream();
      };
      if (text->empty()) {
        net::async_write(stream_, http::make_chunk_last(), done);
      } else {
        net::async_write(
            stream_, http::make_chunk(net::buffer(*text)),
            [self = this->shared_from_this(), text, done](beast::error_code ec, size_t n) {
              if (ec) {
                done(ec, n);
                return;
              }
              net::async_write(self->stream_, http::make_chunk_last(), done);
            });
      }
      return;
    }
    if (batch.empty()) {
      return;
    }
    writing_ = true;
    auto owned =
        std::make_shared<std::vector<std::shared_ptr<const std::string>>>(std::move(batch));
    std::vector<net::const_buffer> bufs;
    size_t bytes = 0;
    for (const auto& c : *owned) {
      bufs.emplace_back(c->data(), c->size());
      bytes += c->size();
    }
    net::async_write(stream_, http::make_chunk(bufs),
                     [self = this->shared_from_this(), owned, bytes](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       {
                         std::lock_guard<std::mutex> lk(self->mu_);
                         self->pendingBytes_ -= bytes;
                       }
                       if (ec) {
                         self->endStream();
                         return;
                       }
                       self->pump();
                     });
  }

  void endStream() {
    if (ended_) {
      return;
    }
    ended_ = true;
    {
      std::lock_guard<std::mutex> lk(mu_);
      closing_ = true;
      queue_.clear();
    }
    if (stream_obj_) {
      auto s = stream_obj_;
      // stop() may wait for an engine callback; keep it off the I/O thread.
      net::post(server_.workers, [s] { s->stop(); });
    }
    shutdown();
  }

  void shutdown() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ec2;
        beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ec2);
        beast::get_lowest_layer(self->stream_).close();
      });
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.close();
    }
  }

  HttpServer::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  bool keepAlive_ = false;

  // Streaming state.
  std::shared_ptr<apiserver::Stream> stream_obj_;
  std::optional<http::response<http::empty_body>> streamRes_;
  std::optional<http::response_serializer<http::empty_body>> streamSer_;
  char peerBuf_[512];
  std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t pendingBytes_ = 0;
  bool pumpScheduled_ = false;
  bool closing_ = false;
  std::string lastChunk_;
  bool writing_ = false;
  bool ended_ = false;
};

} // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket sock) {
    if (ec) {
      if (!stopped && acceptor.is_open()) {
        accept();
      }
      return;
    }
    sock.set_option(tcp::no_delay(true), ec);
    if (sslCtx) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          *this, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(sock)), *sslCtx))
          ->run();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(*this, beast::tcp_stream(std::move(sock)))
          ->run();
    }
    accept();
  });
}

HttpServer::HttpServer(Handler& handler, ServerOptions opts)
    : impl_(std::make_unique<Impl>(handler, std::move(opts))) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  Impl& s = *impl_;
  beast::error_code ec;
  auto addr = net::ip::make_address(s.opts.host, ec);
  if (ec) {
    return Status(Code::Invalid, "listen address \"" + s.opts.host + "\": " + ec.message());
  }
  if (s.opts.tls) {
    s.sslCtx = std::make_unique<ssl::context>(ssl::context::tls_server);
    s.sslCtx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                          ssl::context::no_tlsv1_1);
    // Idle TLS connections (most watchers, most of the time) give their read/write buffers back.
    SSL_CTX_set_mode(s.sslCtx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    s.sslCtx->use_certificate_chain(net::buffer(s.opts.certPem), ec);
    if (ec) {
      return Status(Code::Invalid, "serving certificate: " + ec.message());
    }
    s.sslCtx->use_private_key(net::buffer(s.opts.keyPem), ssl::context::pem, ec);
    if (ec) {
      return Status(Code::Invalid, "serving key: " + ec.message());
    }
  }
  tcp::endpoint ep(addr, s.opts.port);
  std::string where = s.opts.host + ":" + std::to_string(s.opts.port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) {
    s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    s.acceptor.bind(ep, ec);
  }
  if (!ec) {
    s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return Status(Code::Unavailable, "cannot listen on " + where + ": " + ec.message());
  }
  s.boundPort = s.acceptor.local_endpoint().port();
  s.accept();
  for (int i = 0; i < std::max(1, s.opts.ioThreads); ++i) {
    s.threads.emplace_back([&s] { s.ioc.run(); });
  }
  return Status::ok();
}

uint16_t HttpServer::port() const { return impl_->boundPort; }

void HttpServer::stop() {
  Impl& s = *impl_;
  if (s.stopped) {
    return;
  }
  s.stopped = true;
  net::post(s.ioc, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
  });
  s.handler.shutdown();
  s.ioc.stop();
  for (auto& t : s.threads) {
    if (t.joinable()) {
      t.join();
    }
  }
  s.workers.join();
}

} // namespace caracal::apiserver
