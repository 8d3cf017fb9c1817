#include "ipam/testing/in_process_api.h"

#include "datastore/store_engine.h"

#include <cctype>

namespace caracal::ipam::testing {

namespace {

constexpr const char* kToken = "in-process-token";

std::string percentDecode(std::string_view s, bool plusIsSpace) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (plusIsSpace && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class HandlerTransport : public datastore::HttpTransport {
public:
  explicit HandlerTransport(apiserver::Handler& h) : handler_(h) {}

  Result<datastore::HttpResponse> send(const datastore::HttpRequest& req) override {
    apiserver::Request r;
    r.method = req.method;
    std::string_view target = req.target;
    size_t q = target.find('?');
    r.path = percentDecode(target.substr(0, q), false);
    if (q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        size_t eq = part.find('=');
        std::string k = percentDecode(part.substr(0, eq), true);
        std::string v =
            eq == std::string_view::npos ? "" : percentDecode(part.substr(eq + 1), true);
        r.query[k] = v;
        if (amp == std::string_view::npos) {
          break;
        }
        query.remove_prefix(amp + 1);
      }
    }
    for (const auto& [k, v] : req.headers) {
      std::string lower;
      for (char c : k) {
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
      r.headers[lower] = v;
    }
    r.body = req.body;
    if (!handler_.authenticate(r)) {
      return toHttp(handler_.unauthorized());
    }
    apiserver::Reply reply = handler_.handle(r);
    if (reply.stream) {
      return Status(Code::BadRequest, "watch is not supported in process");
    }
    return toHttp(reply);
  }

  Result<datastore::HttpResponse> stream(const datastore::HttpRequest&,
                                         const datastore::LineCallback&,
                                         const datastore::StreamOptions&) override {
    return Status(Code::BadRequest, "watch is not supported in process");
  }

private:
  static datastore::HttpResponse toHttp(const apiserver::Reply& reply) {
    datastore::HttpResponse out;
    out.status = reply.response.status;
    out.headers.emplace_back("Content-Type", reply.response.contentType);
    out.body = reply.response.body;
    return out;
  }

  apiserver::Handler& handler_;
};

} // namespace

InProcessApi::InProcessApi() : engine_(datastore::makeMemoryEngine({})) {
  apiserver::HandlerOptions o;
  o.token = kToken;
  handler_ = std::make_unique<apiserver::Handler>(*engine_, o);
  (void)handler_->bootstrap();
}

InProcessApi::~InProcessApi() {
  handler_->shutdown();
  handler_.reset();
}

datastore::HttpTransportPtr InProcessApi::transport() {
  return std::make_unique<HandlerTransport>(*handler_);
}

const char* InProcessApi::token() { return kToken; }

std::unique_ptr<datastore::RestClient> InProcessApi::client() {
  return std::make_unique<datastore::RestClient>(transport(), kToken);
}

} // namespace caracal::ipam::testing
