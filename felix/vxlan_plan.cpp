#include "felix/vxlan_manager.h"

#include <map>
#include <set>

namespace caracal::felix {

namespace {

constexpr uint16_t kNudPermanent = 0x80;

std::string ipKey(const IpAddr& a) { return a.str(); }

} // namespace

bool VxlanPlan::empty() const {
  return !deleteLink && !createLink && !setMac && !setMtu && !setUp && addAddresses.empty() &&
         deleteAddresses.empty() && replaceNeighbors.empty() && deleteNeighbors.empty() &&
         replaceFdb.empty() && deleteFdb.empty();
}

VxlanPlan planVxlan(const std::optional<VxlanDeviceConfig>& want, int parentIndex,
                    const std::vector<VxlanPeer>& peers, const VxlanKernelState& have,
                    VxlanPhase phase) {
  VxlanPlan p;
  if (!want) {
    p.deleteLink = have.link.has_value();
    return p;
  }
  if (phase == VxlanPhase::Prune && !have.link) {
    return p; // nothing to prune; ensure() creates
  }

  bool fresh = !have.link;
  if (have.link) {
    const netlink::Link& l = *have.link;
    bool same = l.kind == "vxlan" && l.vxlanId == want->vni && l.vxlanPort == want->port &&
                l.vxlanLocal && *l.vxlanLocal == want->local && !l.vxlanLearning &&
                (parentIndex == 0 || l.vxlanParentIndex == parentIndex);
    if (!same) {
      if (phase == VxlanPhase::Prune) {
        return p; // ensure() recreates it first
      }
      p.deleteLink = true;
      fresh = true;
    }
  }
  if (phase == VxlanPhase::Ensure) {
    if (fresh) {
      p.createLink = true; // created with MAC and MTU, then brought up
      p.setUp = true;
    } else {
      if (have.link->mac != want->mac) {
        p.setMac = want->mac;
      }
      if (want->mtu != 0 && have.link->mtu != want->mtu) {
        p.setMtu = want->mtu;
      }
      if (!have.link->up) {
        p.setUp = true;
      }
    }
    // Addresses: exactly the tunnel address (or none before it is allocated).
    bool hasWanted = false;
    for (const IpNet& a : fresh ? std::vector<IpNet>{} : have.addresses) {
      if (want->address && a == *want->address) {
        hasWanted = true;
      } else {
        p.deleteAddresses.push_back(a);
      }
    }
    if (want->address && !hasWanted) {
      p.addAddresses.push_back(*want->address);
    }
  }

  // Per-peer entries.
  std::map<std::string, const netlink::Neighbor*> haveNeigh;
  std::vector<const netlink::FdbEntry*> haveFdb;
  if (!fresh) {
    for (const netlink::Neighbor& n : have.neighbors) {
      haveNeigh[ipKey(n.ip)] = &n;
    }
    for (const netlink::FdbEntry& f : have.fdb) {
      if (f.dst.family != 0) {
        haveFdb.push_back(&f);
      }
    }
  }
  std::set<std::string> wantNeigh;
  std::set<std::pair<netlink::Mac, std::string>> wantFdb;
  for (const VxlanPeer& peer : peers) {
    wantNeigh.insert(ipKey(peer.vtepIp));
    wantFdb.insert({peer.vtepMac, ipKey(peer.nodeIp)});
  }
  if (phase == VxlanPhase::Ensure) {
    for (const VxlanPeer& peer : peers) {
      auto it = haveNeigh.find(ipKey(peer.vtepIp));
      if (it == haveNeigh.end() || it->second->mac != peer.vtepMac ||
          it->second->state != kNudPermanent) {
        netlink::Neighbor n;
        n.ip = peer.vtepIp;
        n.mac = peer.vtepMac;
        n.state = kNudPermanent;
        p.replaceNeighbors.push_back(n);
      }
      bool found = false;
      for (const netlink::FdbEntry* f : haveFdb) {
        if (f->mac == peer.vtepMac && f->dst == peer.nodeIp) {
          found = true;
          break;
        }
      }
      if (!found) {
        // Replace, not append: appending to a MAC that already has an entry (the peer's old
        // underlay address) adds nothing, and prune() would then leave the MAC without any.
        netlink::FdbEntry f;
        f.mac = peer.vtepMac;
        f.dst = peer.nodeIp;
        p.replaceFdb.push_back(f);
      }
    }
  } else {
    for (const auto& [ip, n] : haveNeigh) {
      // Only permanent entries are ours; the kernel ages out its own attempts.
      if (!wantNeigh.count(ip) && n->state == kNudPermanent) {
        p.deleteNeighbors.push_back(*n);
      }
    }
    for (const netlink::FdbEntry* f : haveFdb) {
      if (!wantFdb.count({f->mac, ipKey(f->dst)})) {
        p.deleteFdb.push_back(*f);
      }
    }
  }
  return p;
}

} // namespace caracal::felix
