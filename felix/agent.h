#pragma once
// The felix agent of caracal-node: datastore in, routes/tunnels/NAT/sysctls out.
//
//   Syncer (shared watch cache; its thread calls onUpdates/onInSync)
//      └─▶ Agent::onUpdates ─▶ RouteCalc (pure) ─ marks dirty ─┐
//   Agent loop thread  ◀──────────────────────────────────────┘
//      coalesce (quiet period, bounded delay) ─▶ compute ─▶ program:
//        tunnel addresses (IPAM, when pools ask for them) → MTU file → vxlan.calico + peers →
//        tunl0 → routes (one batch) → prune stale VXLAN peers → natOutgoing → sysctls
//        → `<state-dir>/ready` after the first complete pass
//      every resync interval: the same with a kernel read-back (drift repair)
//
// Nothing touches the kernel's routes before the syncer is in sync (a restart rewrites nothing
// that is right and removes only what is stale). A failed step is logged and retried after
// retryInterval; the others still run. stop() leaves the dataplane in place.
//
// The agent runs in the network namespace of the thread that calls start() (the node's): every
// socket, sysctl and device is opened there.

#include "common/result.h"
#include "felix/nat_outgoing.h"
#include "felix/route_calc.h"
#include "felix/syncer.h"
#include "ipam/ipam.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace caracal::felix {

struct AgentOptions {
  std::string nodeName;
  std::optional<api::IpNet> ip; // underlay address with prefix; detected when absent
  std::string interface;        // underlay device; detected when empty
  std::chrono::milliseconds resyncInterval{10000};
  std::string mtuFile;                       // "" = do not write one
  std::string stateDir;                      // for `ready`; "" = do not write one
  std::chrono::milliseconds quietPeriod{15}; // apply once updates pause this long...
  std::chrono::milliseconds maxDelay{60};    // ...or this long after the first pending one
  std::chrono::milliseconds retryInterval{1000};
  bool setGlobalForwarding = true; // net.ipv4.ip_forward=1 in the node's namespace
  std::chrono::milliseconds registrationTimeout{30000}; // keep retrying the Node registration
  // BIRD runs beside the agent and programs unencapsulated pool routes (CalcConfig).
  bool bgpProgramsUnencapsulated = false;
};

struct AgentStats {
  uint64_t passes = 0;  // programming passes
  uint64_t resyncs = 0; // passes with a kernel read-back
  uint64_t failedPasses = 0;
  uint64_t routes = 0;            // routes last programmed
  uint64_t skippedRoutes = 0;     // last pass: routes whose device does not exist (yet)
  uint64_t routeWrites = 0;       // route replaces + deletes sent since start
  uint64_t routeRepairs = 0;      // of which found by kernel read-backs (drift)
  uint64_t rejectedWorkloads = 0; // local WorkloadEndpoints ignored: interfaceName not "cali…"
  std::chrono::microseconds lastPassDuration{0};
  std::string lastError;
  std::string underlayInterface;
  std::optional<api::IpNet> underlayAddress;
};

class Agent : public SyncerCallbacks {
public:
  // Subscribes to `syncer` (which must not be started yet). `store` serves Node and IPAM writes;
  // `nat` may be null (natOutgoing not managed). All must outlive the agent, and the syncer must
  // be stopped before the agent is destroyed (it calls the agent from its thread).
  Agent(AgentOptions opts, Syncer& syncer, ipam::Store& store, std::unique_ptr<NatOutgoing> nat);
  ~Agent() override; // stop()

  // Detects the underlay, registers the Node, allocates tunnel addresses, writes the MTU file
  // and starts the programming loop. Fatal configuration problems (no underlay address, API
  // unreachable for the registration) are returned.
  Status start();
  void stop();

  bool ready() const;
  AgentStats stats() const;

  // Asks the loop for a pass now (tests; SIGHUP).
  void kick();

  // SyncerCallbacks (syncer thread)
  void onUpdates(const std::vector<Update>& updates) override;
  void onInSync() override;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Kinds the agent needs from the syncer.
std::vector<const api::KindInfo*> agentKinds();

} // namespace caracal::felix
