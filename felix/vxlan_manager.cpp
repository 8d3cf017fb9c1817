#include "felix/vxlan_manager.h"

#include <sys/socket.h>

namespace caracal::felix {

Result<VxlanResult> VxlanManager::ensure(const std::optional<VxlanDeviceConfig>& want,
                                         const std::vector<VxlanPeer>& peers) {
  return run(want, peers, VxlanPhase::Ensure);
}

Result<VxlanResult> VxlanManager::prune(const std::optional<VxlanDeviceConfig>& want,
                                        const std::vector<VxlanPeer>& peers) {
  return run(want, peers, VxlanPhase::Prune);
}

Result<VxlanResult> VxlanManager::run(const std::optional<VxlanDeviceConfig>& want,
                                      const std::vector<VxlanPeer>& peers, VxlanPhase phase) {
  VxlanKernelState have;
  auto link = sock_.link(kVxlanDevice);
  if (link) {
    have.link = *link;
  } else if (link.code() != Code::NotFound) {
    return link.error().withContext("reading vxlan.calico");
  }
  int parentIndex = 0;
  if (want && !want->parent.empty()) {
    auto parent = sock_.link(want->parent);
    if (!parent) {
      return parent.error().withContext("vxlan parent device " + want->parent);
    }
    parentIndex = parent->index;
  }
  if (have.link) {
    int idx = have.link->index;
    ASSIGN_OR_RETURN(auto addrs, sock_.addresses(AF_INET, idx));
    for (const netlink::Address& a : addrs) {
      have.addresses.push_back(a.net);
    }
    ASSIGN_OR_RETURN(have.neighbors, sock_.neighbors(AF_INET, idx));
    ASSIGN_OR_RETURN(have.fdb, sock_.fdb(idx));
  }

  VxlanPlan plan = planVxlan(want, parentIndex, peers, have, phase);
  VxlanResult res;
  res.ifindex = have.link ? have.link->index : 0;
  if (plan.empty()) {
    return res;
  }
  if (plan.deleteLink) {
    RETURN_IF_ERROR(sock_.deleteLink(kVxlanDevice));
    res.ifindex = 0;
    ++res.changes;
  }
  if (plan.createLink) {
    netlink::VxlanSpec spec;
    spec.name = kVxlanDevice;
    spec.vni = want->vni;
    spec.port = want->port;
    spec.local = want->local;
    spec.parentIndex = parentIndex;
    spec.mac = want->mac;
    spec.mtu = want->mtu;
    spec.learning = false;
    RETURN_IF_ERROR(sock_.createVxlan(spec).withContext("creating vxlan.calico"));
    ASSIGN_OR_RETURN(netlink::Link created, sock_.link(kVxlanDevice));
    res.ifindex = created.index;
    res.recreated = true;
    ++res.changes;
  }
  if (plan.setMac) {
    RETURN_IF_ERROR(sock_.setMac(kVxlanDevice, *plan.setMac));
    ++res.changes;
  }
  if (plan.setMtu) {
    RETURN_IF_ERROR(sock_.setMtu(kVxlanDevice, *plan.setMtu));
    ++res.changes;
  }
  if (plan.setUp) {
    RETURN_IF_ERROR(sock_.setUp(kVxlanDevice, true));
    ++res.changes;
  }
  if (res.ifindex == 0) {
    return res; // device removed: its entries went with it
  }

  netlink::Batch batch(sock_);
  for (const IpNet& a : plan.addAddresses) {
    batch.addAddress(netlink::Address{res.ifindex, a, 0});
  }
  for (const IpNet& a : plan.deleteAddresses) {
    batch.deleteAddress(netlink::Address{res.ifindex, a, 0});
  }
  // Queues `op` for each entry, set on the VXLAN device.
  auto onDevice = [&](const auto& entries, auto op) {
    for (auto e : entries) {
      e.ifindex = res.ifindex;
      (batch.*op)(e);
    }
  };
  onDevice(plan.replaceNeighbors, &netlink::Batch::replaceNeighbor);
  onDevice(plan.deleteNeighbors, &netlink::Batch::deleteNeighbor);
  onDevice(plan.replaceFdb, &netlink::Batch::replaceFdb);
  onDevice(plan.deleteFdb, &netlink::Batch::deleteFdb);
  size_t n = batch.size();
  std::vector<Status> results = batch.send();
  res.changes += n;
  for (const Status& st : results) {
    if (!st.isOk()) {
      return st.withContext("programming vxlan.calico");
    }
  }
  return res;
}

} // namespace caracal::felix
