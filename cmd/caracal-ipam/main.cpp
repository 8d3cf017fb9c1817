// caracal-ipam: the CNI IPAM plugin (see cni/ipam_plugin.h).
#include "cni/ipam_plugin.h"

int main() { return caracal::cni::caracalIpamMain(); }
