#pragma once
// confd's watcher: keeps this node's bird.conf equal to the render of the current API state.
//
//   Syncer (shared with felix; its thread calls onUpdates/onInSync)
//      └─▶ Confd::onUpdates: copy the objects that shape BGP, mark dirty ─┐
//   Confd loop thread  ◀─────────────────────────────────────────────────┘
//      wait until in sync, coalesce (quiet period, bounded delay) ─▶ renderBirdConfig (pure)
//      ─▶ ConfigWriter::write (skip identical, bird -p, rename, `configure`) ─▶ status file
//
// Kinds (projectcalico.org/v3 unless noted): Node, BGPConfiguration (`default` and
// `node.<name>`), BGPPeer, BGPFilter, IPPool, IPAMBlock (blocks whose affinity is
// `host:<this node>` get blackholes and are announced) and, when the API serves it, v1 Secret
// (only those in Options::secretsNamespace are used: BGP passwords).
//
// Nothing is rendered before the syncer is in sync, so a starting node never writes a
// configuration built from a partial view. A render or validation error leaves the file (and the
// running BIRD) as they were; the error is logged once per distinct message and written to the
// status file, and the next update tries again. A failed reload of a written file (BIRD busy or
// starting) is retried after retryInterval.
//
// The status file (JSON, replaced atomically on every attempt) is what `caracalctl node status`
// shows: {"node","time","ok","error"?,"warnings","lastGoodTime","outcome"}.

#include "common/result.h"
#include "confd/render.h"
#include "confd/writer.h"
#include "felix/synced_worker.h"
#include "felix/syncer.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace caracal::confd {

// The kinds confd reads (those the API knows about).
std::vector<const api::KindInfo*> confdKinds();

struct ConfdOptions {
  std::string nodeName;
  std::string secretsNamespace = "calico-system"; // where BGP password Secrets live
  ConfigWriter::Options writer;
  std::string statusFile; // "" = none
  std::chrono::milliseconds quietPeriod{20};
  std::chrono::milliseconds maxDelay{100};
  std::chrono::milliseconds retryInterval{2000};
  // Called on the loop thread after every successful write, also when the file already held the
  // text (Unchanged), e.g. to start BIRD once a valid configuration is in place.
  std::function<void(WriteOutcome)> onApplied;
};

struct ConfdStats {
  uint64_t renders = 0;   // render attempts
  uint64_t writes = 0;    // files replaced (Written or Reloaded)
  uint64_t reloads = 0;   // of which BIRD accepted `configure`
  uint64_t unchanged = 0; // renders identical to the file
  uint64_t failures = 0;  // render, validation or write errors
  std::string lastError;  // "" after a success
  std::vector<std::string> lastWarnings;
};

class Confd : public felix::SyncedWorker {
public:
  // Subscribes to `syncer` (not started yet), which must be stopped before the Confd is destroyed.
  Confd(ConfdOptions options, felix::Syncer& syncer);
  ~Confd() override; // stop()
  Confd(const Confd&) = delete;
  Confd& operator=(const Confd&) = delete;

  void start();
  void stop();

  ConfdStats stats() const;
  // Blocks until a configuration file exists that was written (or found identical) by this
  // Confd, or `timeout`; true when it does.
  bool waitConfigured(std::chrono::milliseconds timeout) const;

  // The inputs of the next render (tests).
  BirdInputs inputs() const;

protected:
  void absorb(const std::vector<felix::Update>& updates) override;
  Clock::time_point pass(std::unique_lock<std::mutex>& lock, bool scheduled) override;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace caracal::confd
