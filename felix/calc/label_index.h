#pragma once
// LabelIndex: which items each selector matches, kept up to date incrementally.
//
// Items are the things selectors pick: WorkloadEndpoints, HostEndpoints and NetworkSets, each named
// by an opaque string id. An item has its own labels and an ordered list of parents (profiles such
// as `kns.<ns>` and `ksa.<ns>.<sa>`); parents carry labels of their own. The labels a selector sees
// for an item, its *effective* labels, are, key by key: the item's own value if it has the key,
// else the value from the first parent in the list that has it (own labels win, then earlier
// parents win over later ones, as in Calico's label inheritance index). A parent that is named by
// an item but has no labels yet (or whose labels were deleted) contributes nothing.
//
// Outputs: onMatchStarted(selectorId, itemId) when a selector starts matching an item and
// onMatchStopped(selectorId, itemId) when it stops, including when either side is deleted. Every
// event is a real change of the match relation: no duplicates, no start/stop pair inside one call,
// and replaying the events from an empty index gives exactly matches()/matchingSelectors(). Within
// one call events come in a deterministic order (ids in lexicographic order; for a selector update,
// all stops before all starts).
//
// Work done per call (S selectors, I items; `k` = keys whose effective value changed):
//   updateLabels / updateParentLabels: only the selectors that name one of the changed keys are
//     evaluated (a selector's value depends on no other key); an item's first appearance also
//     takes the selectors that match the empty label set (`all()`, `!has(x)`, ...) without
//     evaluating them. A parent change costs, per child item, a look-up of each changed key in the
//     child's own labels and parents, then the selectors naming keys that actually changed there.
//   updateSelector: a selector that does not match the empty label set can only match items that
//     carry one of its keys, so only those items are evaluated; `all()`-like selectors (matching
//     the empty set) scan every item.
//   deleteSelector / deleteLabels: proportional to the matches removed.
// Pruning::None turns the key index off: every selector is evaluated on every item change and
// every item on every selector change (the straightforward reference behaviour).
//
// Contract: single-threaded; pure (no I/O, clock or threads). Callbacks run synchronously inside
// the mutating call, after the match has been recorded (queries from a callback see it); they must
// not call the mutating methods of this index.

#include "api/selector.h"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::felix::calc {

using Labels = api::Labels;
using IdSet = std::set<std::string, std::less<>>;

class LabelIndex {
public:
  using MatchCallback =
      std::function<void(const std::string& selectorId, const std::string& itemId)>;

  enum class Pruning {
    ByLabelKey, // evaluate only the selectors/items a change can affect (the default)
    None,       // evaluate everything on every change
  };

  // Either callback may be empty.
  LabelIndex(MatchCallback onMatchStarted, MatchCallback onMatchStopped,
             Pruning pruning = Pruning::ByLabelKey);

  LabelIndex(const LabelIndex&) = delete;
  LabelIndex& operator=(const LabelIndex&) = delete;

  // Adds or replaces a selector. Replacing it with an equal selector (same canonical form) is a
  // no-op.
  void updateSelector(const std::string& selectorId, const api::Selector& selector);
  // Removes a selector, stopping all its matches. Unknown ids are ignored.
  void deleteSelector(std::string_view selectorId);

  // Adds or replaces an item's own labels and its parents (in priority order; duplicates are
  // harmless). Parents need not be known yet.
  void updateLabels(const std::string& itemId, Labels labels, std::vector<std::string> parentIds);
  // Removes an item, stopping all its matches. Unknown ids are ignored.
  void deleteLabels(std::string_view itemId);

  // Sets a parent's labels; every item naming the parent is updated.
  void updateParentLabels(const std::string& parentId, Labels labels);
  // Clears a parent's labels (items keep naming it; a later updateParentLabels applies again).
  void deleteParentLabels(std::string_view parentId);

  // Items the selector matches now (empty for an unknown selector).
  const IdSet& matches(std::string_view selectorId) const;
  // Selectors matching the item now (empty for an unknown item).
  const IdSet& matchingSelectors(std::string_view itemId) const;
  bool isMatch(std::string_view selectorId, std::string_view itemId) const;

  // The item's effective labels, or nullptr for an unknown item.
  const Labels* effectiveLabels(std::string_view itemId) const;
  // The selector, or nullptr for an unknown id.
  const api::Selector* selector(std::string_view selectorId) const;

  size_t selectorCount() const { return selectors_.size(); }
  size_t itemCount() const { return items_.size(); }
  // Parents currently tracked (named by an item or carrying labels).
  size_t parentCount() const { return parents_.size(); }
  // Selector evaluations performed so far (a measure of the work pruning saves).
  uint64_t evaluationCount() const { return evaluations_; }

private:
  struct SelectorData {
    api::Selector selector;
    std::vector<std::string> keys; // sorted, unique; meaningful when keysKnown
    bool keysKnown = false;
    bool matchesEmpty = false; // value on the empty label set
    IdSet items;
  };
  struct ItemData {
    Labels own;
    std::vector<std::string> parents;
    Labels effective;
    IdSet selectors;
  };
  struct ParentData {
    Labels labels;
    bool hasLabels = false;
    IdSet items;
  };
  using SelectorMap = std::map<std::string, SelectorData, std::less<>>;
  using ItemMap = std::map<std::string, ItemData, std::less<>>;

  bool evaluate(const SelectorData& sel, const Labels& labels);
  Labels computeEffective(const ItemData& item) const;
  const std::string* inheritedValue(const ItemData& item, const std::string& key) const;

  void indexSelector(const std::string& id, const SelectorData& sel);
  void unindexSelector(const std::string& id, const SelectorData& sel);
  void indexItemKeys(const std::string& itemId, const Labels& oldLabels, const Labels& newLabels);

  // Re-evaluates the selectors a change of `changedKeys` (sorted) can affect. `isNew`: the item
  // had no matches before and its previous labels count as the empty set.
  void reevaluate(const std::string& itemId, ItemData& item,
                  const std::vector<std::string_view>& changedKeys, bool isNew);
  // Applies a change of a parent's labels (keys in `changedKeys`) to one of its items.
  void applyParentChange(const std::string& itemId, ItemData& item,
                         const std::vector<std::string>& changedKeys);
  void detachParents(std::string_view itemId, const std::vector<std::string>& parents,
                     const std::vector<std::string>& keep);

  void addMatch(const std::string& selId, SelectorData& sel, const std::string& itemId,
                ItemData& item);
  void removeMatch(const std::string& selId, SelectorData& sel, const std::string& itemId,
                   ItemData& item);

  MatchCallback onMatchStarted_;
  MatchCallback onMatchStopped_;
  Pruning pruning_;

  SelectorMap selectors_;
  ItemMap items_;
  std::map<std::string, ParentData, std::less<>> parents_;

  // Selector ids by the label keys they name; selectors whose keys are unknown are in
  // `unkeyedSelectors_` and treated as naming every key.
  std::map<std::string, IdSet, std::less<>> selectorsByKey_;
  IdSet unkeyedSelectors_;
  // Selectors that match the empty label set.
  IdSet emptyMatchers_;
  // Item ids by the keys of their effective labels.
  std::map<std::string, IdSet, std::less<>> itemsByKey_;

  uint64_t evaluations_ = 0;
};

} // namespace caracal::felix::calc
