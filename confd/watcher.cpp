#include "confd/watcher.h"

#include "common/clock.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace caracal::confd {

namespace {

using Clock = std::chrono::steady_clock;

const api::KindInfo* calicoKind(const char* kind) {
  return api::findByKind("projectcalico.org/v3", kind);
}

// Replaces `path` with `text` (write to a temporary file beside it, then rename).
Status writeFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) {
      return Status(Code::Internal, "cannot write " + tmp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status(Code::Internal, "cannot rename " + tmp + " to " + path);
  }
  return Status();
}

} // namespace

std::vector<const api::KindInfo*> confdKinds() {
  std::vector<const api::KindInfo*> out;
  for (const char* k :
       {"Node", "BGPConfiguration", "BGPPeer", "BGPFilter", "IPPool", "IPAMBlock"}) {
    if (const api::KindInfo* info = calicoKind(k)) {
      out.push_back(info);
    }
  }
  if (const api::KindInfo* secret = api::findByKind("v1", "Secret")) {
    out.push_back(secret);
  }
  return out;
}

struct Confd::Impl {
  Impl(ConfdOptions o) : opts(std::move(o)), writer(opts.writer) {}

  ConfdOptions opts;
  ConfigWriter writer;

  // Under the worker's lock. Objects by kind name, then key ("name" or "namespace/name").
  std::map<std::string, std::map<std::string, Value>> objects;
  bool configured = false;
  ConfdStats stats;
  std::string lastGoodTime;
  std::string lastOutcome;
  std::string lastLoggedError;

  BirdInputs inputsLocked() const {
    BirdInputs in;
    in.nodeName = opts.nodeName;
    auto each = [&](const char* kind, auto&& fn) {
      auto it = objects.find(kind);
      if (it == objects.end()) {
        return;
      }
      for (const auto& [key, obj] : it->second) {
        fn(key, obj);
      }
    };
    each("Node", [&](const std::string&, const Value& v) { in.nodes.push_back(v); });
    each("BGPConfiguration", [&](const std::string& key, const Value& v) {
      if (key == "default") {
        in.defaultConfig = v;
      } else if (key == "node." + opts.nodeName) {
        in.nodeConfig = v;
      }
    });
    each("BGPPeer", [&](const std::string&, const Value& v) { in.peers.push_back(v); });
    each("BGPFilter", [&](const std::string&, const Value& v) { in.filters.push_back(v); });
    each("IPPool", [&](const std::string&, const Value& v) { in.pools.push_back(v); });
    const std::string affinity = "host:" + opts.nodeName;
    each("IPAMBlock", [&](const std::string&, const Value& v) {
      if (v.getString("spec.affinity") == affinity && !v.getString("spec.cidr").empty()) {
        in.affineBlocks.push_back(v.getString("spec.cidr"));
      }
    });
    const std::string prefix = opts.secretsNamespace + "/";
    each("Secret", [&](const std::string& key, const Value& v) {
      if (!opts.secretsNamespace.empty() && key.rfind(prefix, 0) == 0) {
        in.secrets.push_back(v);
      }
    });
    return in;
  }

  void writeStatus(bool ok, const std::string& error, const std::vector<std::string>& warnings) {
    if (opts.statusFile.empty()) {
      return;
    }
    Value::Array warn;
    for (const std::string& w : warnings) {
      warn.emplace_back(w);
    }
    Value doc(Value::Object{});
    doc.set("node", opts.nodeName);
    doc.set("time", nowRfc3339());
    doc.set("ok", ok);
    if (!ok) {
      doc.set("error", error);
    }
    doc.set("warnings", Value(std::move(warn)));
    doc.set("lastGoodTime", lastGoodTime);
    doc.set("outcome", lastOutcome);
    if (Status st = writeFileAtomically(opts.statusFile, toJson(doc) + "\n"); !st) {
      spdlog::warn("confd: status file: {}", st.message());
    }
  }

  // One render + write, entered and left with `lock` held (released around the slow part).
  // Returns when to try again unasked.
  Clock::time_point apply(std::unique_lock<std::mutex>& lock, const std::function<void()>& notify) {
    const BirdInputs in = inputsLocked();
    lock.unlock();
    Result<BirdConfig> cfg = renderBirdConfig(in);
    std::vector<std::string> warnings;
    Status failure;
    Result<WriteOutcome> outcome = WriteOutcome::Unchanged;
    if (!cfg) {
      failure = cfg.error();
    } else {
      warnings = cfg->warnings;
      outcome = writer.write(cfg->text);
      if (!outcome) {
        failure = outcome.error();
      }
    }
    lock.lock();
    stats.renders++;
    stats.lastWarnings = warnings;
    bool retry = false;
    if (failure.isOk()) {
      WriteOutcome o = *outcome;
      lastOutcome = writeOutcomeName(o);
      if (o == WriteOutcome::Unchanged) {
        stats.unchanged++;
      } else {
        stats.writes++;
        stats.reloads += o == WriteOutcome::Reloaded ? 1 : 0;
        lastGoodTime = nowRfc3339();
        spdlog::info("confd: bird.conf {} ({} bytes)", writeOutcomeName(o), cfg->text.size());
      }
      if (lastGoodTime.empty()) {
        lastGoodTime = nowRfc3339(); // an identical file from an earlier run is the running config
      }
      stats.lastError.clear();
      lastLoggedError.clear();
      for (const std::string& w : warnings) {
        spdlog::debug("confd: {}", w);
      }
      writeStatus(true, "", warnings);
      if (opts.onApplied) {
        auto cb = opts.onApplied;
        lock.unlock();
        cb(o);
        lock.lock();
      }
      configured = true;
      notify();
    } else {
      stats.failures++;
      stats.lastError = failure.message();
      if (failure.message() != lastLoggedError) {
        spdlog::error("confd: BIRD configuration not applied (the running one stays): {}",
                      failure.message());
        lastLoggedError = failure.message();
      }
      writeStatus(false, failure.message(), warnings);
      // A render or validation error is a property of the state: wait for the next update. A
      // reload or I/O error may pass: try again later.
      retry = failure.code() != Code::Invalid;
    }
    return retry ? Clock::now() + opts.retryInterval : Clock::time_point::max();
  }
};

Confd::Confd(ConfdOptions options, felix::Syncer& syncer)
    : SyncedWorker(options.quietPeriod, options.maxDelay),
      impl_(std::make_unique<Impl>(std::move(options))) {
  syncer.subscribe(this, confdKinds());
}

Confd::~Confd() { stop(); }

void Confd::start() { startWorker(); }

void Confd::stop() { stopWorker(); }

ConfdStats Confd::stats() const {
  std::lock_guard lock(mutex());
  return impl_->stats;
}

bool Confd::waitConfigured(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex());
  return waitFor(lock, timeout, [this] { return impl_->configured; });
}

BirdInputs Confd::inputs() const {
  std::lock_guard lock(mutex());
  return impl_->inputsLocked();
}

void Confd::absorb(const std::vector<felix::Update>& updates) {
  for (const felix::Update& u : updates) {
    auto& byKey = impl_->objects[u.kind->kind];
    if (u.object) {
      byKey[u.key] = *u.object;
    } else {
      byKey.erase(u.key);
    }
  }
}

felix::SyncedWorker::Clock::time_point Confd::pass(std::unique_lock<std::mutex>& lock, bool) {
  return impl_->apply(lock, [this] { notifyAll(); });
}

} // namespace caracal::confd
