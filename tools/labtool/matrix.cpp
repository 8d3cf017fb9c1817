// Every-pod-to-every-pod probing in parallel, and its JSON and table renderings.
#include "tools/labtool/labtool.h"

#include <algorithm>

namespace caracal::labtool {

Result<Matrix> runMatrix(const std::vector<MatrixPod>& pods, const ProbeOptions& tmpl,
                         int parallelism) {
  const size_t n = pods.size();
  const size_t pairs = n * n;
  // Results are written per pair by exactly one worker; vector<bool> packs bits, so use chars.
  std::vector<char> reached(pairs, 0);
  std::atomic<size_t> next{0};
  std::mutex errMu;
  Status firstError;
  size_t workers = std::min<size_t>(pairs, static_cast<size_t>(std::max(1, parallelism)));
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      std::string currentNs; // the namespace this worker thread is in ("" = where it started)
      while (true) {
        size_t k = next.fetch_add(1);
        if (k >= pairs) {
          return;
        }
        const MatrixPod& from = pods[k / n];
        const MatrixPod& to = pods[k % n];
        if (from.netnsPath != currentNs) {
          Status st = enterNetns(from.netnsPath);
          if (!st) {
            std::lock_guard<std::mutex> lock(errMu);
            if (firstError.isOk()) {
              firstError = st.withContext("pod " + from.name);
            }
            continue;
          }
          currentNs = from.netnsPath;
        }
        ProbeOptions o = tmpl;
        o.address = to.ip;
        reached[k] = probe(o).isOk() ? 1 : 0;
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  if (!firstError.isOk()) {
    return firstError;
  }
  Matrix m(n, std::vector<bool>(n, false));
  for (size_t k = 0; k < pairs; ++k) {
    m[k / n][k % n] = reached[k] != 0;
  }
  return m;
}

Value matrixJson(const std::vector<MatrixPod>& pods, const Matrix& m) {
  Value out = Value::object();
  for (size_t i = 0; i < pods.size(); ++i) {
    Value row = Value::object();
    for (size_t j = 0; j < pods.size(); ++j) {
      row.set(pods[j].name, Value(static_cast<bool>(m[i][j])));
    }
    out.set(pods[i].name, std::move(row));
  }
  return out;
}

std::string matrixTable(const std::vector<MatrixPod>& pods, const Matrix& m) {
  const std::string corner = "FROM \\ TO";
  size_t first = corner.size();
  for (const MatrixPod& p : pods) {
    first = std::max(first, p.name.size());
  }
  auto pad = [](const std::string& s, size_t w) {
    return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
  };
  std::string out = pad(corner, first);
  for (const MatrixPod& p : pods) {
    out += "  " + p.name;
  }
  out += "\n";
  for (size_t i = 0; i < pods.size(); ++i) {
    out += pad(pods[i].name, first);
    for (size_t j = 0; j < pods.size(); ++j) {
      out += "  " + pad(m[i][j] ? "ok" : "--", std::max<size_t>(2, pods[j].name.size()));
    }
    // No trailing blanks on a line.
    while (!out.empty() && out.back() == ' ') {
      out.pop_back();
    }
    out += "\n";
  }
  return out;
}

} // namespace caracal::labtool
