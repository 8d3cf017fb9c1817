#pragma once
// caracal-node's command line (see docs/design/felix.md and the contract in the lab notes):
//   caracal-node --node NAME [--kubeconfig PATH] [--ip A.B.C.D/NN] [--interface eth0]
//                [--resync-seconds 10] [--mtu-file PATH] [--state-dir DIR] [--log-level info]
// Runs until SIGTERM/SIGINT (exit 0, dataplane left in place); SIGHUP asks for a programming pass.

namespace caracal::felix {

int nodeMain(int argc, char** argv);

} // namespace caracal::felix
