#include "apiserver/apiserver_main.h"

#include "apiserver/credentials.h"
#include "apiserver/handler.h"
#include "apiserver/http_server.h"
#include "datastore/sqlite_journal.h"
#include "datastore/store_engine.h"

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <sys/stat.h>

namespace caracal::apiserver {

namespace {

struct Flags {
  std::string dataDir = "/var/lib/caracal";
  std::string listen = "127.0.0.1:6443";
  bool insecureHttp = false;
  std::string certFile;
  std::string keyFile;
  std::string caFile;
  size_t maxBodyBytes = 3 * 1024 * 1024;
  int requestTimeoutSeconds = 60;
  size_t watchQueueBytes = 16 * 1024 * 1024;
  double bookmarkSeconds = 10;
  int64_t historyEvents = 100000;
  int workers = 32;
  std::string sqliteSync = "full";
};

// "127.0.0.1:6443", "[::1]:6443", ":6443" -> host, port.
bool splitHostPort(const std::string& s, std::string& host, uint16_t& port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) {
    return false;
  }
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    host = "0.0.0.0";
  }
  std::string p = s.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  unsigned long v = std::stoul(p);
  if (v > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(v);
  return true;
}

bool isLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string urlHost(const std::string& host) {
  std::string h = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  return h.find(':') != std::string::npos ? "[" + h + "]" : h;
}

} // namespace

int apiserverMain(int argc, char** argv) {
  Flags f;
  CLI::App app{"caracal-apiserver: the Kubernetes-style API server of caracal"};
  app.add_option("--data-dir", f.dataDir, "state directory (store, CA, token, admin.kubeconfig)");
  app.add_option("--listen", f.listen, "address to serve on, HOST:PORT (port 0 picks a free one)");
  app.add_flag("--insecure-http", f.insecureHttp,
               "serve plain HTTP without TLS (allowed only on a loopback address)");
  app.add_option("--tls-cert-file", f.certFile,
                 "serving certificate (PEM) instead of a generated one");
  app.add_option("--tls-private-key-file", f.keyFile, "key of --tls-cert-file (PEM)");
  app.add_option("--tls-ca-file", f.caFile, "CA of --tls-cert-file, written to the kubeconfig");
  app.add_option("--max-body-bytes", f.maxBodyBytes, "largest request body accepted");
  app.add_option("--request-timeout", f.requestTimeoutSeconds, "seconds to receive a request");
  app.add_option("--watch-queue-bytes", f.watchQueueBytes,
                 "bytes a watcher may fall behind before its watch is closed");
  app.add_option("--bookmark-interval", f.bookmarkSeconds, "seconds between watch bookmarks");
  app.add_option("--history-events", f.historyEvents, "watch history kept for resuming watches");
  app.add_option("--workers", f.workers, "request worker threads");
  app.add_option("--sqlite-sync", f.sqliteSync,
                 "normal: acknowledged writes survive a crash or kill of the process (WAL); "
                 "full: also a power loss (fsync per commit batch)")
      ->check(CLI::IsMember({"normal", "full"}));
  CLI11_PARSE(app, argc, argv);

  std::string host;
  uint16_t port = 0;
  if (!splitHostPort(f.listen, host, port)) {
    std::cerr << "error: --listen: invalid value \"" << f.listen << "\" (want HOST:PORT)\n";
    return 2;
  }
  if (f.insecureHttp && !isLoopback(host)) {
    std::cerr << "error: --insecure-http is allowed only on a loopback address, not \"" << host
              << "\"\n";
    return 2;
  }
  if (f.certFile.empty() != f.keyFile.empty()) {
    std::cerr << "error: --tls-cert-file and --tls-private-key-file go together\n";
    return 2;
  }

  CredentialOptions co;
  co.dataDir = f.dataDir;
  co.certFile = f.certFile;
  co.keyFile = f.keyFile;
  co.caFile = f.caFile;
  if (!isLoopback(host) && host != "0.0.0.0" && host != "::") {
    co.extraSans.push_back(host);
  }
  auto creds = ensureCredentials(co);
  if (!creds) {
    std::cerr << "error: " << creds.error().message() << "\n";
    return 1;
  }

  datastore::StoreOptions so;
  so.historyLimit = static_cast<size_t>(std::max<int64_t>(1000, f.historyEvents));
  auto engine = datastore::makeSqliteEngine(
      f.dataDir + "/store.db", so,
      datastore::SqliteOptions{f.sqliteSync == "full" ? datastore::SqliteSync::Full
                                                      : datastore::SqliteSync::Normal});
  if (!engine) {
    std::cerr << "error: opening the store: " << engine.error().message() << "\n";
    return 1;
  }

  HandlerOptions ho;
  ho.token = creds->token;
  ho.bookmarkInterval =
      std::chrono::milliseconds(static_cast<int64_t>(std::max(0.05, f.bookmarkSeconds) * 1000));
  ho.historyKeep = f.historyEvents;
  Handler handler(**engine, ho);
  if (Status st = handler.bootstrap(); !st) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }

  ServerOptions so2;
  so2.host = host;
  so2.port = port;
  so2.tls = !f.insecureHttp;
  so2.certPem = creds->serverCertPem;
  so2.keyPem = creds->serverKeyPem;
  so2.bodyLimit = f.maxBodyBytes;
  so2.requestTimeout = std::chrono::seconds(std::max(1, f.requestTimeoutSeconds));
  so2.watchQueueLimit = f.watchQueueBytes;
  so2.workerThreads = f.workers;
  HttpServer server(handler, so2);

  // Block the signals before any thread starts so that only sigwait() below sees them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  Status st = server.start();
  if (!st) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }
  std::string url = std::string(f.insecureHttp ? "http://" : "https://") + urlHost(host) + ":" +
                    std::to_string(server.port());
  std::string kubeconfig = f.dataDir + "/admin.kubeconfig";
  st = writeKubeconfig(kubeconfig, url, f.insecureHttp ? "" : creds->caCertPem, creds->token);
  if (!st) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }
  std::cout << "caracal-apiserver serving on " << url << " (store " << f.dataDir
            << "/store.db, kubeconfig " << kubeconfig << ")" << std::endl;

  int sig = 0;
  sigwait(&sigs, &sig);
  std::cout << "caracal-apiserver: signal " << sig << ", shutting down" << std::endl;
  server.stop();
  return 0;
}

} // namespace caracal::apiserver
