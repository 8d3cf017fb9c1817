#include "felix/calc/label_index.h"

#include "felix/calc/selector_keys.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace caracal::felix::calc {

namespace {

const IdSet kNoIds;
const Labels kNoLabels;

// Keys whose value differs between `a` and `b` (present in one only, or with different values),
// sorted. The views point into the keys of `a` and `b`.
std::vector<std::string_view> changedKeys(const Labels& a, const Labels& b) {
  std::vector<std::string_view> out;
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      out.push_back(ia->first);
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      out.push_back(ib->first);
      ++ib;
    } else {
      if (ia->second != ib->second) {
        out.push_back(ia->first);
      }
      ++ia;
      ++ib;
    }
  }
  return out;
}

void eraseFromIndex(std::map<std::string, IdSet, std::less<>>& index, std::string_view key,
                    std::string_view id) {
  const auto it = index.find(key);
  if (it == index.end()) {
    return;
  }
  if (const auto member = it->second.find(id); member != it->second.end()) {
    it->second.erase(member);
  }
  if (it->second.empty()) {
    index.erase(it);
  }
}

void addToIndex(std::map<std::string, IdSet, std::less<>>& index, std::string_view key,
                std::string_view id) {
  auto it = index.find(key);
  if (it == index.end()) {
    it = index.emplace(std::string(key), IdSet{}).first;
  }
  it->second.emplace(id);
}

} // namespace

LabelIndex::LabelIndex(MatchCallback onMatchStarted, MatchCallback onMatchStopped, Pruning pruning)
    : onMatchStarted_(std::move(onMatchStarted)), onMatchStopped_(std::move(onMatchStopped)),
      pruning_(pruning) {}

// ---------------------------------------------------------------------------------------------
// Selectors.

void LabelIndex::updateSelector(const std::string& selectorId, const api::Selector& selector) {
  auto [it, inserted] = selectors_.try_emplace(selectorId);
  SelectorData& sel = it->second;
  if (!inserted && sel.selector == selector) {
    return;
  }
  if (!inserted) {
    unindexSelector(it->first, sel);
  }
  sel.selector = selector;
  auto keys = referencedKeys(selector);
  sel.keysKnown = keys.has_value();
  sel.keys = keys ? std::move(*keys) : std::vector<std::string>{};
  sel.matchesEmpty = evaluate(sel, kNoLabels);
  indexSelector(it->first, sel);

  // The new match set, as pointers to item ids in items_ (sorted, since both ways of visiting
  // the items go in id order).
  std::vector<const std::string*> now;
  if (pruning_ == Pruning::None || !sel.keysKnown || sel.matchesEmpty) {
    for (auto& [itemId, item] : items_) {
      if (evaluate(sel, item.effective)) {
        now.push_back(&itemId);
      }
    }
  } else {
    // The selector is false on the empty label set and reads only sel.keys, so it is false on
    // every item carrying none of them.
    std::vector<std::string_view> candidates;
    for (const std::string& key : sel.keys) {
      if (const auto ik = itemsByKey_.find(key); ik != itemsByKey_.end()) {
        candidates.insert(candidates.end(), ik->second.begin(), ik->second.end());
      }
    }
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (const std::string_view id : candidates) {
      const auto item = items_.find(id);
      if (evaluate(sel, item->second.effective)) {
        now.push_back(&item->first);
      }
    }
  }

  std::vector<ItemMap::iterator> toStop;
  std::vector<ItemMap::iterator> toStart;
  auto was = sel.items.begin();
  auto is = now.begin();
  while (was != sel.items.end() || is != now.end()) {
    if (is == now.end() || (was != sel.items.end() && *was < **is)) {
      toStop.push_back(items_.find(*was++));
    } else if (was == sel.items.end() || **is < *was) {
      toStart.push_back(items_.find(**is++));
    } else {
      ++was;
      ++is;
    }
  }
  for (const auto item : toStop) {
    removeMatch(it->first, sel, item->first, item->second);
  }
  for (const auto item : toStart) {
    addMatch(it->first, sel, item->first, item->second);
  }
}

void LabelIndex::deleteSelector(std::string_view selectorId) {
  const auto it = selectors_.find(selectorId);
  if (it == selectors_.end()) {
    return;
  }
  SelectorData& sel = it->second;
  std::vector<ItemMap::iterator> matched;
  matched.reserve(sel.items.size());
  for (const std::string& itemId : sel.items) {
    matched.push_back(items_.find(itemId));
  }
  for (const auto item : matched) {
    removeMatch(it->first, sel, item->first, item->second);
  }
  unindexSelector(it->first, sel);
  selectors_.erase(it);
}

void LabelIndex::indexSelector(const std::string& id, const SelectorData& sel) {
  if (sel.keysKnown) {
    for (const std::string& key : sel.keys) {
      addToIndex(selectorsByKey_, key, id);
    }
  } else {
    unkeyedSelectors_.insert(id);
  }
  if (sel.matchesEmpty) {
    emptyMatchers_.insert(id);
  }
}

void LabelIndex::unindexSelector(const std::string& id, const SelectorData& sel) {
  if (sel.keysKnown) {
    for (const std::string& key : sel.keys) {
      eraseFromIndex(selectorsByKey_, key, id);
    }
  } else {
    unkeyedSelectors_.erase(id);
  }
  if (sel.matchesEmpty) {
    emptyMatchers_.erase(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Items.

void LabelIndex::updateLabels(const std::string& itemId, Labels labels,
                              std::vector<std::string> parentIds) {
  auto [it, inserted] = items_.try_emplace(itemId);
  ItemData& item = it->second;
  if (!inserted && item.own == labels && item.parents == parentIds) {
    return;
  }
  if (!inserted) {
    detachParents(itemId, item.parents, parentIds);
  }
  for (const std::string& parentId : parentIds) {
    parents_[parentId].items.insert(itemId);
  }
  item.own = std::move(labels);
  item.parents = std::move(parentIds);

  Labels effective = computeEffective(item);
  // Views into both maps: both stay alive (swap keeps their nodes) until the end of this call.
  const std::vector<std::string_view> changed = changedKeys(item.effective, effective);
  indexItemKeys(it->first, item.effective, effective);
  item.effective.swap(effective);
  if (changed.empty() && !inserted) {
    return;
  }
  reevaluate(it->first, item, changed, inserted);
}

void LabelIndex::deleteLabels(std::string_view itemId) {
  const auto it = items_.find(itemId);
  if (it == items_.end()) {
    return;
  }
  ItemData& item = it->second;
  std::vector<SelectorMap::iterator> matched;
  matched.reserve(item.selectors.size());
  for (const std::string& selId : item.selectors) {
    matched.push_back(selectors_.find(selId));
  }
  for (const auto sel : matched) {
    removeMatch(sel->first, sel->second, it->first, item);
  }
  indexItemKeys(it->first, item.effective, kNoLabels);
  detachParents(it->first, item.parents, {});
  items_.erase(it);
}

void LabelIndex::detachParents(std::string_view itemId, const std::vector<std::string>& parents,
                               const std::vector<std::string>& keep) {
  for (const std::string& parentId : parents) {
    if (std::find(keep.begin(), keep.end(), parentId) != keep.end()) {
      continue;
    }
    const auto pit = parents_.find(parentId);
    if (pit == parents_.end()) {
      continue; // a duplicate in `parents` already removed it
    }
    if (const auto member = pit->second.items.find(itemId); member != pit->second.items.end()) {
      pit->second.items.erase(member);
    }
    if (pit->second.items.empty() && !pit->second.hasLabels) {
      parents_.erase(pit);
    }
  }
}

Labels LabelIndex::computeEffective(const ItemData& item) const {
  Labels out = item.own;
  for (const std::string& parentId : item.parents) {
    const auto pit = parents_.find(parentId);
    if (pit != parents_.end() && pit->second.hasLabels) {
      // insert() keeps existing keys: own labels, then earlier parents, win.
      out.insert(pit->second.labels.begin(), pit->second.labels.end());
    }
  }
  return out;
}

const std::string* LabelIndex::inheritedValue(const ItemData& item, const std::string& key) const {
  for (const std::string& parentId : item.parents) {
    const auto pit = parents_.find(parentId);
    if (pit == parents_.end() || !pit->second.hasLabels) {
      continue;
    }
    if (const auto label = pit->second.labels.find(key); label != pit->second.labels.end()) {
      return &label->second;
    }
  }
  return nullptr;
}

void LabelIndex::indexItemKeys(const std::string& itemId, const Labels& oldLabels,
                               const Labels& newLabels) {
  auto io = oldLabels.begin();
  auto in = newLabels.begin();
  while (io != oldLabels.end() || in != newLabels.end()) {
    if (in == newLabels.end() || (io != oldLabels.end() && io->first < in->first)) {
      eraseFromIndex(itemsByKey_, io->first, itemId);
      ++io;
    } else if (io == oldLabels.end() || in->first < io->first) {
      addToIndex(itemsByKey_, in->first, itemId);
      ++in;
    } else {
      ++io;
      ++in;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parents.

void LabelIndex::updateParentLabels(const std::string& parentId, Labels labels) {
  ParentData& parent = parents_[parentId];
  if (parent.hasLabels && parent.labels == labels) {
    return;
  }
  const std::vector<std::string_view> views = changedKeys(parent.labels, labels);
  const std::vector<std::string> changed(views.begin(), views.end());
  parent.labels = std::move(labels);
  parent.hasLabels = true;
  if (changed.empty()) {
    return;
  }
  for (const std::string& itemId : parent.items) {
    const auto item = items_.find(itemId);
    applyParentChange(item->first, item->second, changed);
  }
}

void LabelIndex::deleteParentLabels(std::string_view parentId) {
  const auto pit = parents_.find(parentId);
  if (pit == parents_.end() || !pit->second.hasLabels) {
    return;
  }
  ParentData& parent = pit->second;
  std::vector<std::string> changed;
  changed.reserve(parent.labels.size());
  for (const auto& [key, value] : parent.labels) {
    changed.push_back(key);
  }
  parent.labels.clear();
  parent.hasLabels = false;
  for (const std::string& itemId : parent.items) {
    const auto item = items_.find(itemId);
    applyParentChange(item->first, item->second, changed);
  }
  if (parent.items.empty()) {
    parents_.erase(pit);
  }
}

void LabelIndex::applyParentChange(const std::string& itemId, ItemData& item,
                                   const std::vector<std::string>& changedKeys) {
  std::vector<std::string_view> changed;
  for (const std::string& key : changedKeys) {
    if (item.own.find(key) != item.own.end()) {
      continue; // the item's own value hides every parent's
    }
    const std::string* value = inheritedValue(item, key);
    const auto current = item.effective.find(key);
    if (value == nullptr) {
      if (current != item.effective.end()) {
        item.effective.erase(current);
        eraseFromIndex(itemsByKey_, key, itemId);
        changed.push_back(key);
      }
    } else if (current == item.effective.end()) {
      item.effective.emplace(key, *value);
      addToIndex(itemsByKey_, key, itemId);
      changed.push_back(key);
    } else if (current->second != *value) {
      current->second = *value;
      changed.push_back(key);
    }
  }
  if (!changed.empty()) {
    reevaluate(itemId, item, changed, false);
  }
}

// ---------------------------------------------------------------------------------------------
// Matching.

bool LabelIndex::evaluate(const SelectorData& sel, const Labels& labels) {
  ++evaluations_;
  return sel.selector.matches(labels);
}

void LabelIndex::reevaluate(const std::string& itemId, ItemData& item,
                            const std::vector<std::string_view>& changedKeys, bool isNew) {
  const auto apply = [&](SelectorMap::iterator sel, bool matchesNow) {
    const bool matchedBefore = item.selectors.find(sel->first) != item.selectors.end();
    if (matchesNow && !matchedBefore) {
      addMatch(sel->first, sel->second, itemId, item);
    } else if (!matchesNow && matchedBefore) {
      removeMatch(sel->first, sel->second, itemId, item);
    }
  };

  if (pruning_ == Pruning::None) {
    for (auto sel = selectors_.begin(); sel != selectors_.end(); ++sel) {
      apply(sel, evaluate(sel->second, item.effective));
    }
    return;
  }

  // Selectors naming a changed key, plus those whose keys are unknown.
  std::vector<std::string_view> candidates(unkeyedSelectors_.begin(), unkeyedSelectors_.end());
  for (const std::string_view key : changedKeys) {
    if (const auto ks = selectorsByKey_.find(key); ks != selectorsByKey_.end()) {
      candidates.insert(candidates.end(), ks->second.begin(), ks->second.end());
    }
  }
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

  if (!isNew) {
    for (const std::string_view id : candidates) {
      const auto sel = selectors_.find(id);
      apply(sel, evaluate(sel->second, item.effective));
    }
    return;
  }
  // A new item starts from "no labels": every selector that matches the empty set and names none
  // of its keys matches it without evaluation.
  std::vector<std::string_view> all;
  all.reserve(candidates.size() + emptyMatchers_.size());
  std::set_union(candidates.begin(), candidates.end(), emptyMatchers_.begin(), emptyMatchers_.end(),
                 std::back_inserter(all), std::less<>());
  for (const std::string_view id : all) {
    const auto sel = selectors_.find(id);
    const bool evaluateIt = std::binary_search(candidates.begin(), candidates.end(), id);
    apply(sel, evaluateIt ? evaluate(sel->second, item.effective) : true);
  }
}

void LabelIndex::addMatch(const std::string& selId, SelectorData& sel, const std::string& itemId,
                          ItemData& item) {
  sel.items.insert(itemId);
  item.selectors.insert(selId);
  if (onMatchStarted_) {
    onMatchStarted_(selId, itemId);
  }
}

void LabelIndex::removeMatch(const std::string& selId, SelectorData& sel, const std::string& itemId,
                             ItemData& item) {
  sel.items.erase(itemId);
  item.selectors.erase(selId);
  if (onMatchStopped_) {
    onMatchStopped_(selId, itemId);
  }
}

// ---------------------------------------------------------------------------------------------
// Queries.

const IdSet& LabelIndex::matches(std::string_view selectorId) const {
  const auto it = selectors_.find(selectorId);
  return it == selectors_.end() ? kNoIds : it->second.items;
}

const IdSet& LabelIndex::matchingSelectors(std::string_view itemId) const {
  const auto it = items_.find(itemId);
  return it == items_.end() ? kNoIds : it->second.selectors;
}

bool LabelIndex::isMatch(std::string_view selectorId, std::string_view itemId) const {
  const IdSet& items = matches(selectorId);
  return items.find(itemId) != items.end();
}

const Labels* LabelIndex::effectiveLabels(std::string_view itemId) const {
  const auto it = items_.find(itemId);
  return it == items_.end() ? nullptr : &it->second.effective;
}

const api::Selector* LabelIndex::selector(std::string_view selectorId) const {
  const auto it = selectors_.find(selectorId);
  return it == selectors_.end() ? nullptr : &it->second.selector;
}

} // namespace caracal::felix::calc
