#include "bgp/birdctl.h"

#include "common/strings.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace caracal::bgp {

namespace {

bool isDigits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

bool isErrorCode(int code) { return code >= 8000 && code <= 9999; }

Code errorCodeFor(int replyCode) {
  if (replyCode >= 9000 || replyCode == kReplyConfigFileError) {
    return Code::Invalid;
  }
  if (replyCode == 8001 || replyCode == kReplyNoProtocolsMatch) {
    return Code::NotFound;
  }
  if (replyCode == 8007) {
    return Code::Forbidden;
  }
  return Code::Internal;
}

std::vector<std::string> fields(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string f;
  while (in >> f) {
    out.push_back(f);
  }
  return out;
}

// "2026-11-27": BIRD's ISO long time formats put the date and the time in separate words.
bool looksLikeDate(std::string_view s) {
  return s.size() == 10 && s[4] == '-' && s[7] == '-' && isDigits(s.substr(0, 4));
}

bool isIpv4(const std::vector<std::string>& parts) {
  if (parts.size() != 4) {
    return false;
  }
  return std::all_of(parts.begin(), parts.end(), [](const std::string& p) {
    return isDigits(p) && p.size() <= 3 && std::stoi(p) <= 255;
  });
}

bool isIpv6Text(std::string_view s) {
  if (s.find(':') == std::string_view::npos) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isxdigit(c) != 0 || c == ':' || c == '.'; });
}

std::string center(const std::string& s, size_t width) {
  size_t pad = width > s.size() ? width - s.size() : 0;
  return std::string(pad / 2, ' ') + s + std::string(pad - pad / 2, ' ');
}

std::string left(const std::string& s, size_t width) {
  return s + std::string(width > s.size() ? width - s.size() : 0, ' ');
}

void appendTable(std::ostringstream& out, const std::vector<const PeerRow*>& rows) {
  const std::vector<std::string> header = {"PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"};
  std::vector<size_t> width;
  for (const auto& h : header) {
    width.push_back(h.size());
  }
  auto cells = [](const PeerRow& r) {
    return std::vector<std::string>{r.peerAddress, r.type, r.state, r.since, r.info};
  };
  for (const PeerRow* r : rows) {
    auto c = cells(*r);
    for (size_t i = 0; i < c.size(); ++i) {
      width[i] = std::max(width[i], c[i].size());
    }
  }
  std::string border = "+";
  for (size_t w : width) {
    border += std::string(w + 2, '-') + "+";
  }
  auto line = [&](const std::vector<std::string>& c, bool heading) {
    out << "|";
    for (size_t i = 0; i < c.size(); ++i) {
      out << " " << (heading ? center(c[i], width[i]) : left(c[i], width[i])) << " |";
    }
    out << "\n";
  };
  out << border << "\n";
  line(header, true);
  out << border << "\n";
  for (const PeerRow* r : rows) {
    line(cells(*r), false);
  }
  out << border << "\n";
}

} // namespace

Status parseReplyLine(std::string_view line, int previousCode, ReplyLine& out, bool& last) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  last = false;
  if (line.empty()) {
    return Status(Code::BadRequest, "bird: empty reply line");
  }
  if (line[0] == '+') {
    out = ReplyLine{-1, std::string(line.substr(1))};
    return Status::ok();
  }
  if (line[0] == ' ') {
    if (previousCode < 0) {
      return Status(Code::BadRequest, "bird: continuation line without a code before it");
    }
    out = ReplyLine{previousCode, std::string(line.substr(1))};
    return Status::ok();
  }
  if (line.size() < 5 || !isDigits(line.substr(0, 4)) || (line[4] != '-' && line[4] != ' ')) {
    return Status(Code::BadRequest, "bird: malformed reply line \"" + std::string(line) + "\"");
  }
  out = ReplyLine{std::stoi(std::string(line.substr(0, 4))), std::string(line.substr(5))};
  last = line[4] == ' ';
  return Status::ok();
}

Result<std::vector<ReplyLine>> parseReply(std::string_view text) {
  std::vector<ReplyLine> reply;
  int previous = -1;
  bool last = false;
  for (const std::string& raw : split(text, '\n')) {
    if (last) {
      if (raw.empty()) {
        continue; // the newline after the final line
      }
      return Status(Code::BadRequest, "bird: text after the final reply line");
    }
    ReplyLine line;
    RETURN_IF_ERROR(parseReplyLine(raw, previous, line, last));
    if (line.code < 0) {
      continue;
    }
    previous = line.code;
    reply.push_back(std::move(line));
  }
  if (!last) {
    return Status(Code::BadRequest, "bird: reply ends without a final line");
  }
  return reply;
}

Status replyStatus(const std::vector<ReplyLine>& reply) {
  int code = 0;
  std::vector<std::string> texts;
  for (const ReplyLine& l : reply) {
    if (!isErrorCode(l.code)) {
      continue;
    }
    if (code == 0) {
      code = l.code;
    }
    if (l.code == code) {
      texts.push_back(l.text);
    }
  }
  if (code == 0) {
    return Status::ok();
  }
  return Status(errorCodeFor(code), join(texts, "\n"));
}

std::vector<ProtocolStatus> parseProtocols(const std::vector<ReplyLine>& reply) {
  std::vector<ProtocolStatus> out;
  for (const ReplyLine& l : reply) {
    if (l.code != kReplyProtocolList) {
      continue;
    }
    auto f = fields(l.text);
    if (f.size() < 5) {
      continue;
    }
    ProtocolStatus p{f[0], f[1], f[2], f[3], f[4], ""};
    size_t next = 5;
    if (looksLikeDate(p.since) && f.size() > 5 && f[5].find(':') != std::string::npos) {
      p.since += " " + f[5];
      next = 6;
    }
    p.info = join(
        std::vector<std::string>(f.begin() + static_cast<long>(std::min(next, f.size())), f.end()),
        " ");
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<PeerRow> peerRows(const std::vector<ProtocolStatus>& protocols) {
  std::vector<PeerRow> rows;
  for (const ProtocolStatus& p : protocols) {
    if (toLower(p.proto) != "bgp") {
      continue;
    }
    size_t sep = p.name.find('_');
    if (sep == std::string::npos || sep + 1 >= p.name.size()) {
      continue;
    }
    std::string kind = p.name.substr(0, sep);
    std::string addr = p.name.substr(sep + 1);
    PeerRow row;
    if (kind == "Mesh") {
      row.type = "node-to-node mesh";
    } else if (kind == "Global") {
      row.type = "global";
    } else if (kind == "Node") {
      row.type = "node specific";
    } else {
      continue;
    }
    std::string port;
    size_t portAt = addr.rfind("_port_");
    if (portAt != std::string::npos && isDigits(std::string_view(addr).substr(portAt + 6))) {
      port = addr.substr(portAt + 6);
      addr.resize(portAt);
    }
    auto parts = split(addr, '_');
    if (isIpv4(parts)) {
      row.peerAddress = join(parts, ".");
    } else {
      std::string v6 = join(parts, ":");
      if (!isIpv6Text(v6)) {
        continue;
      }
      row.peerAddress = v6;
      row.ipv6 = true;
    }
    if (!port.empty()) {
      row.peerAddress =
          row.ipv6 ? "[" + row.peerAddress + "]:" + port : row.peerAddress + ":" + port;
    }
    row.state = p.state;
    row.since = p.since;
    row.info = p.info;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string formatNodeStatus(const std::vector<PeerRow>& rows) {
  std::ostringstream out;
  for (bool v6 : {false, true}) {
    const char* family = v6 ? "IPv6" : "IPv4";
    std::vector<const PeerRow*> selected;
    for (const PeerRow& r : rows) {
      if (r.ipv6 == v6) {
        selected.push_back(&r);
      }
    }
    out << family << " BGP status\n";
    if (selected.empty()) {
      out << "No " << family << " peers found.\n";
    } else {
      appendTable(out, selected);
    }
    out << "\n";
  }
  return out.str();
}

// --- BirdClient ---

Result<BirdClient> BirdClient::connect(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status(Code::Invalid, "bird: control socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Status(Code::Internal, std::string("bird: socket: ") + std::strerror(errno));
  }
  BirdClient client(fd, timeout);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
    return Status(Code::Unavailable,
                  "bird: connect " + path + ": " + std::string(std::strerror(errno)));
  }
  ASSIGN_OR_RETURN(auto greeting, client.readReply());
  if (greeting.size() != 1 || greeting[0].code != kReplyWelcome) {
    return Status(Code::Unavailable, "bird: unexpected greeting on " + path);
  }
  client.greeting_ = greeting[0].text;
  return client;
}

BirdClient::BirdClient(BirdClient&& other) noexcept
    : fd_(other.fd_), timeout_(other.timeout_), buffer_(std::move(other.buffer_)),
      greeting_(std::move(other.greeting_)) {
  other.fd_ = -1;
}

BirdClient& BirdClient::operator=(BirdClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = other.fd_;
    other.fd_ = -1;
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
    greeting_ = std::move(other.greeting_);
  }
  return *this;
}

BirdClient::~BirdClient() { disconnect(); }

void BirdClient::disconnect() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
  buffer_.clear();
}

Result<std::string> BirdClient::readLine() {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Status(Code::Unavailable, "bird: timed out waiting for a reply");
    }
    pollfd pfd{fd_, POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Status(Code::Unavailable, std::string("bird: poll: ") + std::strerror(errno));
    }
    if (n == 0) {
      continue; // the deadline check above reports the timeout
    }
    char buf[4096];
    ssize_t got = ::recv(fd_, buf, sizeof(buf), 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return Status(Code::Unavailable, std::string("bird: read: ") + std::strerror(errno));
    }
    if (got == 0) {
      return Status(Code::Unavailable, "bird: connection closed");
    }
    buffer_.append(buf, static_cast<size_t>(got));
  }
}

Result<std::vector<ReplyLine>> BirdClient::readReply() {
  std::vector<ReplyLine> reply;
  int previous = -1;
  for (;;) {
    ASSIGN_OR_RETURN(std::string raw, readLine());
    ReplyLine line;
    bool last = false;
    RETURN_IF_ERROR(parseReplyLine(raw, previous, line, last));
    if (line.code < 0) {
      continue;
    }
    previous = line.code;
    reply.push_back(std::move(line));
    if (last) {
      return reply;
    }
  }
}

Result<std::vector<ReplyLine>> BirdClient::request(const std::string& command) {
  if (fd_ < 0) {
    return Status(Code::Unavailable, "bird: not connected");
  }
  if (command.find('\n') != std::string::npos) {
    return Status(Code::Invalid, "bird: a command is one line");
  }
  std::string out = command + "\n";
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      Status failed(Code::Unavailable, std::string("bird: write: ") + std::strerror(errno));
      disconnect();
      return failed;
    }
    sent += static_cast<size_t>(n);
  }
  auto reply = readReply();
  if (!reply) {
    // Part of a reply may still be unread: the stream is out of step, so drop the connection.
    disconnect();
  }
  return reply;
}

Result<std::vector<std::string>> BirdClient::command(const std::string& command) {
  ASSIGN_OR_RETURN(auto reply, request(command));
  RETURN_IF_ERROR(replyStatus(reply));
  std::vector<std::string> texts;
  texts.reserve(reply.size());
  for (auto& l : reply) {
    texts.push_back(std::move(l.text));
  }
  return texts;
}

Result<std::vector<ProtocolStatus>> BirdClient::showProtocols() {
  ASSIGN_OR_RETURN(auto reply, request("show protocols"));
  RETURN_IF_ERROR(replyStatus(reply));
  return parseProtocols(reply);
}

Status BirdClient::configure() {
  ASSIGN_OR_RETURN(auto reply, request("configure"));
  RETURN_IF_ERROR(replyStatus(reply));
  switch (reply.back().code) {
  case kReplyReconfigured:
  case kReplyReconfigInProgress:
  case kReplyReconfigQueued:
  case kReplyReconfigUnqueued:
    return Status::ok();
  case kReplyReconfigIgnoredShutdown:
    return Status(Code::Unavailable, "bird: " + reply.back().text);
  default:
    return Status(Code::Internal, "bird: unexpected reply to configure: " +
                                      std::to_string(reply.back().code) + " " + reply.back().text);
  }
}

Result<std::string> BirdClient::showStatus() {
  ASSIGN_OR_RETURN(auto lines, command("show status"));
  return join(lines, "\n");
}

} // namespace caracal::bgp
