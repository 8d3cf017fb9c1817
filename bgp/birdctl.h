#pragma once
// A native client of BIRD 2's control socket, and the `node status` view built on it.
//
// BIRD speaks a line protocol on a unix stream socket. Every reply line is either
//   "DDDD-text"  a line with code DDDD, more lines follow,
//   "DDDD text"  the last line of the reply (code DDDD),
//   " text"      a continuation of the previous line's code,
//   "+text"      a spontaneous printout (only in asynchronous mode; ignored here).
// Codes: 0xxx success, 1xxx table rows, 2xxx table headings, 8xxx run-time errors, 9xxx parse
// errors (BIRD's doc/reply_codes). The greeting is "0001 BIRD <version> ready.".
//
// Parsing and formatting are pure functions over text so they can be tested against captured
// output; `BirdClient` only moves bytes. A client is single-threaded and handles one command at a
// time, as BIRD does per connection.

#include "common/result.h"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::bgp {

// BIRD reply codes this client interprets (BIRD's doc/reply_codes).
inline constexpr int kReplyOk = 0;
inline constexpr int kReplyWelcome = 1;
inline constexpr int kReplyReadingConfig = 2;
inline constexpr int kReplyReconfigured = 3;
inline constexpr int kReplyReconfigInProgress = 4;
inline constexpr int kReplyReconfigQueued = 5;
inline constexpr int kReplyReconfigIgnoredShutdown = 6;
inline constexpr int kReplyStatusReport = 13;
inline constexpr int kReplyReconfigUnqueued = 17;
inline constexpr int kReplyProtocolList = 1002;
inline constexpr int kReplyProtocolHeading = 2002;
inline constexpr int kReplyConfigFileError = 8002;
inline constexpr int kReplyNoProtocolsMatch = 8003;

// One reply line with its code resolved (a continuation line carries the previous line's code).
struct ReplyLine {
  int code = 0;
  std::string text; // without the code, separator or continuation space
  bool operator==(const ReplyLine&) const = default;
};

// Parses one line (without '\n'). `previousCode` is the code of the line before, used for
// continuation lines. Sets `last` when the line ends the reply. Spontaneous ("+") lines yield
// code -1. Malformed lines are BadRequest.
Status parseReplyLine(std::string_view line, int previousCode, ReplyLine& out, bool& last);

// Parses a whole captured reply (lines separated by '\n'); it must end with a final line.
Result<std::vector<ReplyLine>> parseReply(std::string_view text);

// The error a reply carries, or OK: an 8xxx/9xxx code anywhere makes the reply an error whose
// message is BIRD's text (lines of that code joined by '\n').
Status replyStatus(const std::vector<ReplyLine>& reply);

// One row of `show protocols`.
struct ProtocolStatus {
  std::string name;  // "Mesh_10_0_0_2"
  std::string proto; // "BGP", "Device", "Kernel", ...
  std::string table; // "---" in BIRD 2 (tables live in channels)
  std::string state; // "up", "start", "down", "flush"
  std::string since; // as BIRD prints it ("16:34:47.356" or "2026-11-27 16:34:47")
  std::string info;  // rest of the row, whitespace collapsed: "Established", "Active  Socket: ..."
  bool operator==(const ProtocolStatus&) const = default;
};

// Rows (code 1002) of a `show protocols` reply; headings and other codes are skipped.
std::vector<ProtocolStatus> parseProtocols(const std::vector<ReplyLine>& reply);

// One peer row of `node status`, as calicoctl prints it.
struct PeerRow {
  std::string peerAddress; // "10.0.0.2", "fd00::2", with a port: "10.0.0.2:1179", "[fd00::2]:1179"
  std::string type;        // "node-to-node mesh" | "global" | "node specific"
  std::string state;       // BIRD's protocol state: "up", "start", ...
  std::string since;
  std::string info; // "Established", or BIRD's BGP state and last error ("Active Socket: ...")
  bool ipv6 = false;
  bool operator==(const PeerRow&) const = default;
};

// Keeps the BGP protocols named ^(Mesh|Global|Node)_(.+)$ (the names confd renders) and maps
// them to rows. Names whose address part is neither IPv4 nor IPv6 are skipped.
std::vector<PeerRow> peerRows(const std::vector<ProtocolStatus>& protocols);

// The peer section of calicoctl's `node status`:
//   IPv4 BGP status
//   +--------------+-------------------+-------+----------+-------------+
//   | PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
//   +--------------+-------------------+-------+----------+-------------+
//   | 10.0.0.2     | node-to-node mesh | up    | 09:00:00 | Established |
//   +--------------+-------------------+-------+----------+-------------+
//
//   IPv6 BGP status
//   No IPv6 peers found.
//
// ("No IPv4 peers found." likewise.) Rows are printed in the order given.
std::string formatNodeStatus(const std::vector<PeerRow>& rows);

// A connection to BIRD's control socket. Move-only; closes the socket on destruction.
class BirdClient {
public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  // Connects and reads the 0001 greeting. Unavailable when nothing listens at `path` or the
  // greeting does not arrive within `timeout` (which also bounds every later reply).
  static Result<BirdClient> connect(const std::string& path,
                                    std::chrono::milliseconds timeout = kDefaultTimeout);

  BirdClient(BirdClient&& other) noexcept;
  BirdClient& operator=(BirdClient&& other) noexcept;
  BirdClient(const BirdClient&) = delete;
  BirdClient& operator=(const BirdClient&) = delete;
  ~BirdClient();

  // "BIRD 2.0.12 ready." as read at connect time.
  const std::string& greeting() const { return greeting_; }

  // Sends one command line and returns the reply's lines with codes. An error reply is still
  // returned here (see replyStatus); only I/O and protocol failures are errors, and they close the
  // connection (later calls are Unavailable: reconnect).
  Result<std::vector<ReplyLine>> request(const std::string& command);

  // Sends one command and returns the text of its reply lines. An 8xxx/9xxx reply becomes an
  // error carrying BIRD's text (Invalid for 9xxx and 8002, NotFound for 8001/8003, Forbidden for
  // 8007, Internal otherwise); I/O failures and timeouts are Unavailable.
  Result<std::vector<std::string>> command(const std::string& command);

  // `show protocols`.
  Result<std::vector<ProtocolStatus>> showProtocols();

  // `configure` (re-reads the config file BIRD was started with); OK on 0003 Reconfigured,
  // 0004 in progress, 0005 queued, 0017 queued config replaced. A config error (8002) is Invalid
  // with BIRD's "file:line:col message" text; 0006 (shutting down) is Unavailable.
  Status configure();

  // `show status`: its lines joined by '\n' ("BIRD 2.0.12\nRouter ID is ...\n...\nDaemon is up
  // and running").
  Result<std::string> showStatus();

private:
  BirdClient(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  Result<std::vector<ReplyLine>> readReply();
  Result<std::string> readLine();
  void disconnect();

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
  std::string greeting_;
};

} // namespace caracal::bgp
