#include "felix/calc/ipset_calc.h"

#include <algorithm>
#include <cctype>

namespace caracal::felix::calc {

namespace {

struct SetDef {
  std::string selectorId;
  bool namedPort = false;
  std::string portName;
  std::string protocol; // upper case
};

struct Item {
  std::vector<std::string> nets;
  std::vector<NamedPort> ports;
};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

} // namespace

Member IpSetCalc::namedPortMember(const std::string& net, const std::string& protocol,
                                  uint16_t port) {
  return net + "," + lower(protocol) + ":" + std::to_string(port);
}

struct IpSetCalc::Impl {
  explicit Impl(Callbacks cb) : callbacks(std::move(cb)) {}

  Callbacks callbacks;
  std::map<std::string, SetDef> sets;
  std::map<std::string, std::set<std::string>> setsBySelector;
  std::map<std::string, std::set<std::string>> itemsBySelector; // current matches
  std::map<std::string, std::set<std::string>> selectorsByItem;
  std::map<std::string, Item> items;
  std::map<std::string, std::map<Member, int>> refs; // set -> member -> contributors

  // The members `item` contributes to `set`.
  std::vector<Member> contribution(const SetDef& set, const Item& item) const {
    std::vector<Member> out;
    if (!set.namedPort) {
      return item.nets;
    }
    for (const NamedPort& p : item.ports) {
      if (p.name == set.portName && upper(p.protocol) == set.protocol) {
        for (const std::string& net : item.nets) {
          out.push_back(namedPortMember(net, p.protocol, p.port));
        }
      }
    }
    return out;
  }

  void add(const std::string& setId, const Member& m, bool report = true) {
    if (++refs[setId][m] == 1 && report && callbacks.onAdded) {
      callbacks.onAdded(setId, m);
    }
  }

  void remove(const std::string& setId, const Member& m) {
    auto sit = refs.find(setId);
    if (sit == refs.end()) {
      return;
    }
    auto mit = sit->second.find(m);
    if (mit == sit->second.end()) {
      return;
    }
    if (--mit->second == 0) {
      sit->second.erase(mit);
      if (callbacks.onRemoved) {
        callbacks.onRemoved(setId, m);
      }
    }
  }

  // Applies `sign` (+1 add, -1 remove) of `itemId`'s contribution to every set of `selectorId`.
  void applyItem(const std::string& selectorId, const std::string& itemId, int sign) {
    auto iit = items.find(itemId);
    auto sit = setsBySelector.find(selectorId);
    if (iit == items.end() || sit == setsBySelector.end()) {
      return;
    }
    for (const std::string& setId : sit->second) {
      for (const Member& m : contribution(sets.at(setId), iit->second)) {
        if (sign > 0) {
          add(setId, m);
        } else {
          remove(setId, m);
        }
      }
    }
  }

  void addSet(const std::string& setId, SetDef def) {
    if (sets.count(setId)) {
      return;
    }
    const std::string selectorId = def.selectorId;
    const SetDef& stored = sets[setId] = std::move(def);
    setsBySelector[selectorId].insert(setId);
    refs[setId];
    if (auto mit = itemsBySelector.find(selectorId); mit != itemsBySelector.end()) {
      for (const std::string& itemId : mit->second) {
        if (auto iit = items.find(itemId); iit != items.end()) {
          for (const Member& m : contribution(stored, iit->second)) {
            add(setId, m);
          }
        }
      }
    }
  }
};

IpSetCalc::IpSetCalc(Callbacks callbacks) : impl_(std::make_unique<Impl>(std::move(callbacks))) {}

IpSetCalc::~IpSetCalc() = default;

void IpSetCalc::addSelectorSet(const std::string& setId, const std::string& selectorId) {
  impl_->addSet(setId, SetDef{selectorId, false, "", ""});
}

void IpSetCalc::addNamedPortSet(const std::string& setId, const std::string& selectorId,
                                const std::string& portName, const std::string& protocol) {
  impl_->addSet(setId, SetDef{selectorId, true, portName, upper(protocol)});
}

void IpSetCalc::removeSet(const std::string& setId) {
  auto it = impl_->sets.find(setId);
  if (it == impl_->sets.end()) {
    return;
  }
  auto& bySel = impl_->setsBySelector[it->second.selectorId];
  bySel.erase(setId);
  if (bySel.empty()) {
    impl_->setsBySelector.erase(it->second.selectorId);
  }
  impl_->sets.erase(it);
  impl_->refs.erase(setId);
}

void IpSetCalc::updateItem(const std::string& itemId, std::vector<std::string> nets,
                           std::vector<NamedPort> ports) {
  std::sort(nets.begin(), nets.end());
  nets.erase(std::unique(nets.begin(), nets.end()), nets.end());
  Item next{std::move(nets), std::move(ports)};
  auto it = impl_->items.find(itemId);
  if (it != impl_->items.end() && it->second.nets == next.nets && it->second.ports == next.ports) {
    return;
  }
  auto selIt = impl_->selectorsByItem.find(itemId);
  if (selIt == impl_->selectorsByItem.end()) {
    impl_->items[itemId] = std::move(next);
    return;
  }
  // Add the new contribution before removing the old, so a member in both never blinks.
  Item old = it != impl_->items.end() ? std::move(it->second) : Item{};
  impl_->items[itemId] = next;
  for (const std::string& selectorId : selIt->second) {
    auto sit = impl_->setsBySelector.find(selectorId);
    if (sit == impl_->setsBySelector.end()) {
      continue;
    }
    for (const std::string& setId : sit->second) {
      const SetDef& def = impl_->sets.at(setId);
      for (const Member& m : impl_->contribution(def, next)) {
        impl_->add(setId, m);
      }
      for (const Member& m : impl_->contribution(def, old)) {
        impl_->remove(setId, m);
      }
    }
  }
}

void IpSetCalc::deleteItem(const std::string& itemId) {
  auto selIt = impl_->selectorsByItem.find(itemId);
  if (selIt != impl_->selectorsByItem.end()) {
    for (const std::string& selectorId : selIt->second) {
      impl_->applyItem(selectorId, itemId, -1);
    }
  }
  impl_->items.erase(itemId);
}

void IpSetCalc::onMatchStarted(const std::string& selectorId, const std::string& itemId) {
  if (!impl_->itemsBySelector[selectorId].insert(itemId).second) {
    return;
  }
  impl_->selectorsByItem[itemId].insert(selectorId);
  impl_->applyItem(selectorId, itemId, +1);
}

void IpSetCalc::onMatchStopped(const std::string& selectorId, const std::string& itemId) {
  auto it = impl_->itemsBySelector.find(selectorId);
  if (it == impl_->itemsBySelector.end() || it->second.erase(itemId) == 0) {
    return;
  }
  if (it->second.empty()) {
    impl_->itemsBySelector.erase(it);
  }
  auto& sels = impl_->selectorsByItem[itemId];
  sels.erase(selectorId);
  if (sels.empty()) {
    impl_->selectorsByItem.erase(itemId);
  }
  impl_->applyItem(selectorId, itemId, -1);
}

std::vector<Member> IpSetCalc::members(const std::string& setId) const {
  std::vector<Member> out;
  if (auto it = impl_->refs.find(setId); it != impl_->refs.end()) {
    for (const auto& [m, n] : it->second) {
      out.push_back(m);
    }
  }
  return out;
}

} // namespace caracal::felix::calc
