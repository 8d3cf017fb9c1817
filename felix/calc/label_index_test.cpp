#include "felix/calc/label_index.h"
#include "felix/calc/selector_gen_test_util.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <variant>

namespace caracal::felix::calc {
namespace {

api::Selector sel(std::string_view text) {
  auto s = api::Selector::parse(text);
  EXPECT_TRUE(s.hasValue()) << text;
  return s.hasValue() ? *s : api::Selector();
}

struct Event {
  bool started;
  std::string selector;
  std::string item;
  bool operator==(const Event&) const = default;
  bool operator<(const Event& o) const {
    return std::tie(selector, item, started) < std::tie(o.selector, o.item, o.started);
  }
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << (e.started ? "+" : "-") << e.selector << "/" << e.item;
}

Event start(std::string s, std::string i) { return {true, std::move(s), std::move(i)}; }
Event stop(std::string s, std::string i) { return {false, std::move(s), std::move(i)}; }

// An index whose events are recorded; take() returns and clears them.
class Recorded {
public:
  explicit Recorded(LabelIndex::Pruning pruning = LabelIndex::Pruning::ByLabelKey)
      : index(
            [this](const std::string& s, const std::string& i) { events_.push_back(start(s, i)); },
            [this](const std::string& s, const std::string& i) { events_.push_back(stop(s, i)); },
            pruning) {}

  std::vector<Event> take() { return std::exchange(events_, {}); }

  LabelIndex index;

private:
  std::vector<Event> events_;
};

IdSet ids(std::initializer_list<const char*> list) { return IdSet(list.begin(), list.end()); }

// ---------------------------------------------------------------------------------------------
// Unit cases.

TEST(LabelIndex, LabelChangesMoveAnItemInAndOut) {
  Recorded r;
  r.index.updateSelector("web", sel("app == 'web'"));
  r.index.updateLabels("ep1", {{"app", "db"}}, {});
  EXPECT_TRUE(r.take().empty());
  r.index.updateLabels("ep1", {{"app", "web"}}, {});
  EXPECT_EQ(r.take(), std::vector<Event>{start("web", "ep1")});
  EXPECT_EQ(r.index.matches("web"), ids({"ep1"}));
  EXPECT_EQ(r.index.matchingSelectors("ep1"), ids({"web"}));
  EXPECT_TRUE(r.index.isMatch("web", "ep1"));
  // Another label changing leaves the match alone, silently.
  r.index.updateLabels("ep1", {{"app", "web"}, {"tier", "fe"}}, {});
  EXPECT_TRUE(r.take().empty());
  r.index.updateLabels("ep1", {}, {});
  EXPECT_EQ(r.take(), std::vector<Event>{stop("web", "ep1")});
  EXPECT_TRUE(r.index.matches("web").empty());
  EXPECT_FALSE(r.index.isMatch("web", "ep1"));
}

TEST(LabelIndex, UnchangedUpdatesAreSilent) {
  Recorded r;
  r.index.updateSelector("s", sel("a == 'x'"));
  r.index.updateLabels("ep", {{"a", "x"}}, {"p"});
  r.index.updateParentLabels("p", {{"b", "y"}});
  ASSERT_EQ(r.take().size(), 1u);
  const uint64_t evaluations = r.index.evaluationCount();
  r.index.updateSelector("s", sel("a=='x'")); // same canonical form
  r.index.updateLabels("ep", {{"a", "x"}}, {"p"});
  r.index.updateParentLabels("p", {{"b", "y"}});
  EXPECT_TRUE(r.take().empty());
  EXPECT_EQ(r.index.evaluationCount(), evaluations);
}

TEST(LabelIndex, ParentLabelChangeAffectsEveryChild) {
  Recorded r;
  r.index.updateSelector("prod", sel("pcns.env == 'prod'"));
  r.index.updateSelector("other", sel("app == 'x'"));
  r.index.updateParentLabels("kns.a", {{"pcns.env", "dev"}});
  for (int i = 0; i < 50; ++i) {
    r.index.updateLabels("ep" + std::to_string(i), {{"app", "y"}},
                         {i % 2 == 0 ? "kns.a" : "kns.b"});
  }
  EXPECT_TRUE(r.take().empty());
  const uint64_t before = r.index.evaluationCount();
  r.index.updateParentLabels("kns.a", {{"pcns.env", "prod"}});
  const std::vector<Event> events = r.take();
  ASSERT_EQ(events.size(), 25u);
  for (const Event& e : events) {
    EXPECT_TRUE(e.started);
    EXPECT_EQ(e.selector, "prod");
  }
  EXPECT_EQ(r.index.matches("prod").size(), 25u);
  EXPECT_TRUE(r.index.isMatch("prod", "ep0"));
  EXPECT_FALSE(r.index.isMatch("prod", "ep1"));
  // Only the selector naming the changed key was evaluated, once per child.
  EXPECT_EQ(r.index.evaluationCount() - before, 25u);

  // The second parent arriving, then the first losing its labels.
  r.index.updateParentLabels("kns.b", {{"pcns.env", "prod"}});
  EXPECT_EQ(r.take().size(), 25u);
  EXPECT_EQ(r.index.matches("prod").size(), 50u);
  r.index.deleteParentLabels("kns.a");
  EXPECT_EQ(r.take().size(), 25u);
  EXPECT_EQ(r.index.matches("prod").size(), 25u);
  EXPECT_FALSE(r.index.isMatch("prod", "ep0"));
  // Children keep their membership: the labels coming back applies again.
  r.index.updateParentLabels("kns.a", {{"pcns.env", "prod"}});
  EXPECT_EQ(r.take().size(), 25u);
  EXPECT_EQ(r.index.matches("prod").size(), 50u);
}

TEST(LabelIndex, OwnLabelsOverrideParentsAndEarlierParentsWin) {
  Recorded r;
  r.index.updateParentLabels("p1", {{"a", "p1"}, {"b", "p1"}});
  r.index.updateParentLabels("p2", {{"a", "p2"}, {"b", "p2"}, {"c", "p2"}});
  r.index.updateLabels("ep", {{"a", "own"}}, {"p1", "p2"});
  const Labels expected = {{"a", "own"}, {"b", "p1"}, {"c", "p2"}};
  ASSERT_NE(r.index.effectiveLabels("ep"), nullptr);
  EXPECT_EQ(*r.index.effectiveLabels("ep"), expected);

  r.index.updateSelector("own", sel("a == 'own'"));
  r.index.updateSelector("inherited", sel("a == 'p1' || a == 'p2'"));
  r.index.updateSelector("b2", sel("b == 'p2'"));
  EXPECT_EQ(r.take(), std::vector<Event>{start("own", "ep")});
  // A parent changing a key the item overrides changes nothing.
  r.index.updateParentLabels("p1", {{"a", "other"}, {"b", "p1"}});
  EXPECT_TRUE(r.take().empty());
  // Dropping the own label exposes the first parent's value.
  r.index.updateLabels("ep", {}, {"p1", "p2"});
  EXPECT_EQ(r.take(), (std::vector<Event>{stop("own", "ep")}));
  EXPECT_EQ(r.index.effectiveLabels("ep")->at("a"), "other");
  // p1 losing `b` exposes p2's.
  r.index.updateParentLabels("p1", {{"a", "p1"}});
  EXPECT_EQ(r.take(), (std::vector<Event>{start("b2", "ep"), start("inherited", "ep")}));
  // Reordering the parents flips which value wins.
  r.index.updateLabels("ep", {}, {"p2", "p1"});
  EXPECT_EQ(r.index.effectiveLabels("ep")->at("a"), "p2");
  EXPECT_TRUE(r.take().empty()); // `inherited` still matches, b is still p2
}

TEST(LabelIndex, ParentsMayArriveAfterTheirItems) {
  Recorded r;
  r.index.updateSelector("ns", sel("pcns.projectcalico.org/name == 'prod'"));
  r.index.updateLabels("ep", {}, {"kns.prod"});
  EXPECT_TRUE(r.take().empty());
  r.index.updateParentLabels("kns.prod", {{"pcns.projectcalico.org/name", "prod"}});
  EXPECT_EQ(r.take(), std::vector<Event>{start("ns", "ep")});
  // The item leaving the parent.
  r.index.updateLabels("ep", {}, {});
  EXPECT_EQ(r.take(), std::vector<Event>{stop("ns", "ep")});
  EXPECT_EQ(r.index.parentCount(), 1u); // still has labels
  r.index.deleteParentLabels("kns.prod");
  EXPECT_EQ(r.index.parentCount(), 0u);
}

TEST(LabelIndex, SelectorUpdateAndDelete) {
  Recorded r;
  r.index.updateLabels("ep1", {{"app", "web"}}, {});
  r.index.updateLabels("ep2", {{"app", "db"}}, {});
  r.index.updateLabels("ep3", {}, {});
  r.index.updateSelector("s", sel("app == 'web'"));
  EXPECT_EQ(r.take(), std::vector<Event>{start("s", "ep1")});
  r.index.updateSelector("s", sel("app in {'web', 'db'}"));
  EXPECT_EQ(r.take(), std::vector<Event>{start("s", "ep2")});
  r.index.updateSelector("s", sel("app == 'db' || !has(app)"));
  EXPECT_EQ(r.take(), (std::vector<Event>{stop("s", "ep1"), start("s", "ep3")}));
  EXPECT_EQ(r.index.matches("s"), ids({"ep2", "ep3"}));
  r.index.deleteSelector("s");
  EXPECT_EQ(r.take(), (std::vector<Event>{stop("s", "ep2"), stop("s", "ep3")}));
  EXPECT_EQ(r.index.selectorCount(), 0u);
  EXPECT_EQ(r.index.selector("s"), nullptr);
  EXPECT_TRUE(r.index.matchingSelectors("ep2").empty());
  r.index.deleteSelector("s"); // unknown: ignored
  EXPECT_TRUE(r.take().empty());
  // A re-added selector only re-evaluates.
  r.index.updateSelector("s", sel("has(app)"));
  EXPECT_EQ(r.take(), (std::vector<Event>{start("s", "ep1"), start("s", "ep2")}));
}

TEST(LabelIndex, ItemDeleteEmitsStops) {
  Recorded r;
  r.index.updateSelector("a", sel("all()"));
  r.index.updateSelector("b", sel("x == '1'"));
  r.index.updateSelector("c", sel("x == '2'"));
  r.index.updateParentLabels("p", {{"x", "1"}});
  r.index.updateLabels("ep", {}, {"p"});
  EXPECT_EQ(r.take(), (std::vector<Event>{start("a", "ep"), start("b", "ep")}));
  r.index.deleteLabels("ep");
  EXPECT_EQ(r.take(), (std::vector<Event>{stop("a", "ep"), stop("b", "ep")}));
  EXPECT_EQ(r.index.itemCount(), 0u);
  EXPECT_EQ(r.index.effectiveLabels("ep"), nullptr);
  EXPECT_TRUE(r.index.matches("a").empty());
  r.index.deleteLabels("ep");
  EXPECT_TRUE(r.take().empty());
  // The parent no longer has the item.
  r.index.updateParentLabels("p", {{"x", "2"}});
  EXPECT_TRUE(r.take().empty());
}

TEST(LabelIndex, MissingKeysUnderNegationsAndHas) {
  Recorded r;
  r.index.updateSelector("has", sel("has(env)"));
  r.index.updateSelector("nothas", sel("!has(env)"));
  r.index.updateSelector("ne", sel("env != 'prod'"));
  r.index.updateSelector("notin", sel("env not in {'prod', 'stage'}"));
  r.index.updateSelector("noteq", sel("!(env == 'prod')"));
  r.index.updateLabels("bare", {}, {});
  r.index.updateLabels("other", {{"app", "x"}}, {});
  r.index.updateLabels("empty", {{"env", ""}}, {});
  r.index.updateLabels("prod", {{"env", "prod"}}, {});
  const IdSet absent = ids({"bare", "empty", "other"});
  EXPECT_EQ(r.index.matches("has"), ids({"empty", "prod"}));
  EXPECT_EQ(r.index.matches("nothas"), ids({"bare", "other"}));
  EXPECT_EQ(r.index.matches("ne"), absent);
  EXPECT_EQ(r.index.matches("notin"), absent);
  EXPECT_EQ(r.index.matches("noteq"), absent);
  r.take();
  // The key disappearing turns the negations on.
  r.index.updateLabels("prod", {}, {});
  EXPECT_EQ(r.take(),
            (std::vector<Event>{stop("has", "prod"), start("ne", "prod"), start("noteq", "prod"),
                                start("nothas", "prod"), start("notin", "prod")}));
}

TEST(LabelIndex, AllMatchesEveryItemIncludingUnlabelledOnes) {
  Recorded r;
  r.index.updateLabels("ep1", {}, {});
  r.index.updateSelector("all", sel("all()"));
  r.index.updateSelector("empty", sel(""));
  r.index.updateSelector("global", sel("global()"));
  r.index.updateSelector("none", sel("!all()"));
  EXPECT_EQ(r.take().size(), 3u);
  r.index.updateLabels("ep2", {{"a", "b"}}, {"p"});
  EXPECT_EQ(r.take(), (std::vector<Event>{start("all", "ep2"), start("empty", "ep2"),
                                          start("global", "ep2")}));
  // Label changes never re-evaluate selectors that name no key.
  const uint64_t before = r.index.evaluationCount();
  r.index.updateLabels("ep2", {{"a", "c"}}, {});
  r.index.updateParentLabels("p", {{"z", "z"}});
  EXPECT_EQ(r.index.evaluationCount(), before);
  EXPECT_TRUE(r.take().empty());
  EXPECT_EQ(r.index.matches("all"), ids({"ep1", "ep2"}));
  EXPECT_TRUE(r.index.matches("none").empty());
}

TEST(LabelIndex, PruningLimitsEvaluations) {
  Recorded r;
  for (int i = 0; i < 100; ++i) {
    r.index.updateSelector("s" + std::to_string(i), sel("k" + std::to_string(i) + " == 'v'"));
  }
  for (int i = 0; i < 100; ++i) {
    r.index.updateLabels("ep" + std::to_string(i), {{"k" + std::to_string(i), "v"}}, {});
  }
  EXPECT_EQ(r.take().size(), 100u);
  uint64_t before = r.index.evaluationCount();
  // An item update evaluates only the selectors naming the changed keys.
  r.index.updateLabels("ep5", {{"k5", "v"}, {"k6", "v"}, {"unused", "1"}}, {});
  EXPECT_EQ(r.index.evaluationCount() - before, 1u);
  EXPECT_EQ(r.take(), std::vector<Event>{start("s6", "ep5")});
  // A new selector evaluates only the items carrying one of its keys (plus its own check against
  // the empty label set).
  before = r.index.evaluationCount();
  r.index.updateSelector("new", sel("k6 == 'v' && unused == '1'"));
  EXPECT_EQ(r.index.evaluationCount() - before, 3u); // empty set, ep5, ep6
  EXPECT_EQ(r.take(), std::vector<Event>{start("new", "ep5")});
  // The same work without pruning touches everything.
  Recorded full(LabelIndex::Pruning::None);
  for (int i = 0; i < 100; ++i) {
    full.index.updateSelector("s" + std::to_string(i), sel("k" + std::to_string(i) + " == 'v'"));
    full.index.updateLabels("ep" + std::to_string(i), {{"k" + std::to_string(i), "v"}}, {});
  }
  before = full.index.evaluationCount();
  full.index.updateLabels("ep5", {{"k5", "v"}, {"k6", "v"}, {"unused", "1"}}, {});
  EXPECT_EQ(full.index.evaluationCount() - before, 100u);
  EXPECT_EQ(full.index.matches("s6"), r.index.matches("s6"));
}

TEST(LabelIndex, CallbacksSeeTheRecordedMatch) {
  LabelIndex* self = nullptr;
  int checked = 0;
  LabelIndex index(
      [&](const std::string& s, const std::string& i) {
        EXPECT_TRUE(self->isMatch(s, i));
        ++checked;
      },
      [&](const std::string& s, const std::string& i) {
        EXPECT_FALSE(self->isMatch(s, i));
        ++checked;
      });
  self = &index;
  index.updateSelector("s", sel("has(a)"));
  index.updateLabels("ep", {{"a", ""}}, {});
  index.deleteLabels("ep");
  EXPECT_EQ(checked, 2);
  LabelIndex silent(nullptr, nullptr); // empty callbacks are allowed
  silent.updateSelector("s", sel("all()"));
  silent.updateLabels("ep", {}, {});
  EXPECT_TRUE(silent.isMatch("s", "ep"));
}

// ---------------------------------------------------------------------------------------------
// Replay: random operation sequences checked against a from-scratch evaluation after every step.

struct SetSelector {
  std::string id, text;
};
struct DeleteSelector {
  std::string id;
};
struct SetItem {
  std::string id;
  Labels labels;
  std::vector<std::string> parents;
};
struct DeleteItem {
  std::string id;
};
struct SetParent {
  std::string id;
  Labels labels;
};
struct DeleteParent {
  std::string id;
};
using Op = std::variant<SetSelector, DeleteSelector, SetItem, DeleteItem, SetParent, DeleteParent>;

// The state the operations describe, kept naively.
struct Model {
  std::map<std::string, api::Selector> selectors;
  std::map<std::string, std::pair<Labels, std::vector<std::string>>> items;
  std::map<std::string, Labels> parents;

  void apply(const Op& op) {
    if (const auto* o = std::get_if<SetSelector>(&op)) {
      selectors[o->id] = sel(o->text);
    } else if (const auto* o = std::get_if<DeleteSelector>(&op)) {
      selectors.erase(o->id);
    } else if (const auto* o = std::get_if<SetItem>(&op)) {
      items[o->id] = {o->labels, o->parents};
    } else if (const auto* o = std::get_if<DeleteItem>(&op)) {
      items.erase(o->id);
    } else if (const auto* o = std::get_if<SetParent>(&op)) {
      parents[o->id] = o->labels;
    } else if (const auto* o = std::get_if<DeleteParent>(&op)) {
      parents.erase(o->id);
    }
  }

  Labels effective(const std::string& item) const {
    const auto& [own, parentIds] = items.at(item);
    Labels out;
    // Spelled out the long way: a key takes the first value found, own labels first.
    std::vector<const Labels*> layers = {&own};
    for (const std::string& p : parentIds) {
      if (const auto it = parents.find(p); it != parents.end()) {
        layers.push_back(&it->second);
      }
    }
    for (const Labels* layer : layers) {
      for (const auto& [k, v] : *layer) {
        if (out.count(k) == 0) {
          out[k] = v;
        }
      }
    }
    return out;
  }

  std::set<std::pair<std::string, std::string>> bruteForce() const {
    std::set<std::pair<std::string, std::string>> out;
    for (const auto& [itemId, unused] : items) {
      const Labels labels = effective(itemId);
      for (const auto& [selId, selector] : selectors) {
        if (selector.matches(labels)) {
          out.emplace(selId, itemId);
        }
      }
    }
    return out;
  }
};

void applyTo(LabelIndex& index, const Op& op) {
  if (const auto* o = std::get_if<SetSelector>(&op)) {
    index.updateSelector(o->id, sel(o->text));
  } else if (const auto* o = std::get_if<DeleteSelector>(&op)) {
    index.deleteSelector(o->id);
  } else if (const auto* o = std::get_if<SetItem>(&op)) {
    index.updateLabels(o->id, o->labels, o->parents);
  } else if (const auto* o = std::get_if<DeleteItem>(&op)) {
    index.deleteLabels(o->id);
  } else if (const auto* o = std::get_if<SetParent>(&op)) {
    index.updateParentLabels(o->id, o->labels);
  } else if (const auto* o = std::get_if<DeleteParent>(&op)) {
    index.deleteParentLabels(o->id);
  }
}

std::string describe(const Op& op) {
  return std::visit(
      [](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        std::string s;
        if constexpr (std::is_same_v<T, SetSelector>) {
          s = "updateSelector " + o.id + " " + o.text;
        } else if constexpr (std::is_same_v<T, DeleteSelector>) {
          s = "deleteSelector " + o.id;
        } else if constexpr (std::is_same_v<T, SetItem>) {
          s = "updateLabels " + o.id;
        } else if constexpr (std::is_same_v<T, DeleteItem>) {
          s = "deleteLabels " + o.id;
        } else if constexpr (std::is_same_v<T, SetParent>) {
          s = "updateParentLabels " + o.id;
        } else {
          s = "deleteParentLabels " + o.id;
        }
        return s;
      },
      op);
}

using MatchSet = std::set<std::pair<std::string, std::string>>;

MatchSet indexMatches(const LabelIndex& index, const Model& model) {
  MatchSet out;
  for (const auto& [selId, unused] : model.selectors) {
    for (const std::string& item : index.matches(selId)) {
      out.emplace(selId, item);
    }
  }
  return out;
}

// Runs `ops` on a fresh index, checking after every step that
//  - the events of the step are distinct and, replayed onto the match set built from all earlier
//    events, give exactly the brute-force match set (so they are exact and never duplicated);
//  - the index's own queries agree (both directions) and its effective labels are right.
// Returns the final match set and, per step, the sorted events.
std::pair<MatchSet, std::vector<std::vector<Event>>> replay(const std::vector<Op>& ops,
                                                            LabelIndex::Pruning pruning) {
  Recorded r(pruning);
  Model model;
  MatchSet fromEvents;
  std::vector<std::vector<Event>> steps;
  for (size_t step = 0; step < ops.size(); ++step) {
    const Op& op = ops[step];
    SCOPED_TRACE("step " + std::to_string(step) + ": " + describe(op));
    applyTo(r.index, op);
    model.apply(op);
    std::vector<Event> events = r.take();
    std::set<std::pair<std::string, std::string>> touched;
    for (const Event& e : events) {
      EXPECT_TRUE(touched.emplace(e.selector, e.item).second) << "repeated pair in one step: " << e;
      if (e.started) {
        EXPECT_TRUE(fromEvents.emplace(e.selector, e.item).second) << "duplicate start " << e;
      } else {
        EXPECT_EQ(fromEvents.erase({e.selector, e.item}), 1u) << "stop without start " << e;
      }
    }
    const MatchSet expected = model.bruteForce();
    EXPECT_EQ(fromEvents, expected);
    EXPECT_EQ(indexMatches(r.index, model), expected);
    size_t reverse = 0;
    for (const auto& [itemId, unused] : model.items) {
      for (const std::string& selId : r.index.matchingSelectors(itemId)) {
        EXPECT_TRUE(expected.count({selId, itemId})) << selId << "/" << itemId;
        ++reverse;
      }
      const Labels* labels = r.index.effectiveLabels(itemId);
      EXPECT_TRUE(labels != nullptr && *labels == model.effective(itemId)) << itemId;
    }
    EXPECT_EQ(reverse, expected.size());
    EXPECT_EQ(r.index.selectorCount(), model.selectors.size());
    EXPECT_EQ(r.index.itemCount(), model.items.size());
    if (::testing::Test::HasFailure()) {
      break; // one broken step is enough to read
    }
    std::sort(events.begin(), events.end());
    steps.push_back(std::move(events));
  }
  return {fromEvents, steps};
}

const std::vector<std::string> kParentIds = {"kns.a", "kns.b", "ksa.a.default", "ksa.b.sa"};

std::vector<std::string> randomParents(std::mt19937& rng) {
  std::vector<std::string> out;
  const int n = std::uniform_int_distribution<int>(0, 2)(rng);
  for (int i = 0; i < n; ++i) {
    out.push_back(testing::pick(rng, kParentIds));
  }
  return out;
}

// A random final state, as the list of operations that creates it from scratch.
struct FinalState {
  std::vector<Op> parents, selectors, items;
};

FinalState randomFinalState(std::mt19937& rng) {
  FinalState f;
  for (const std::string& p : kParentIds) {
    if (std::uniform_int_distribution<int>(0, 3)(rng) != 0) { // some parents never get labels
      f.parents.push_back(SetParent{p, testing::randomLabels(rng)});
    }
  }
  for (int i = 0; i < 12; ++i) {
    f.selectors.push_back(SetSelector{"sel" + std::to_string(i), testing::randomSelectorText(rng)});
  }
  for (int i = 0; i < 16; ++i) {
    f.items.push_back(
        SetItem{"ep" + std::to_string(i), testing::randomLabels(rng), randomParents(rng)});
  }
  return f;
}

// A noise operation on `id` of the same kind as `final` (a different value or a delete).
Op noiseFor(std::mt19937& rng, const Op& final) {
  const bool remove = std::uniform_int_distribution<int>(0, 3)(rng) == 0;
  if (const auto* o = std::get_if<SetSelector>(&final)) {
    return remove ? Op(DeleteSelector{o->id})
                  : Op(SetSelector{o->id, testing::randomSelectorText(rng)});
  }
  if (const auto* o = std::get_if<SetItem>(&final)) {
    return remove ? Op(DeleteItem{o->id})
                  : Op(SetItem{o->id, testing::randomLabels(rng), randomParents(rng)});
  }
  const auto& p = std::get<SetParent>(final);
  return remove ? Op(DeleteParent{p.id}) : Op(SetParent{p.id, testing::randomLabels(rng)});
}

class LabelIndexReplay : public ::testing::TestWithParam<uint32_t> {};

TEST_P(LabelIndexReplay, OrdersAgreeAndEventsMatchBruteForce) {
  std::mt19937 rng(GetParam());
  const FinalState f = randomFinalState(rng);

  std::vector<std::vector<Op>> orders;
  // 1. Parents, selectors, items, each in order.
  {
    std::vector<Op> ops = f.parents;
    ops.insert(ops.end(), f.selectors.begin(), f.selectors.end());
    ops.insert(ops.end(), f.items.begin(), f.items.end());
    orders.push_back(ops);
    // 2. The reverse: items first (their parents still unknown), then selectors, then parents.
    std::reverse(ops.begin(), ops.end());
    orders.push_back(ops);
  }
  // 3, 4. Shuffled, with noise: before each final operation, 0-3 other values (or deletes) for the
  // same id, and temporary selectors, items and parent labels that come and go in between.
  for (int variant = 0; variant < 2; ++variant) {
    std::vector<Op> finals = f.parents;
    finals.insert(finals.end(), f.selectors.begin(), f.selectors.end());
    finals.insert(finals.end(), f.items.begin(), f.items.end());
    std::shuffle(finals.begin(), finals.end(), rng);
    std::vector<Op> ops;
    std::vector<Op> cleanup;
    int temp = 0;
    for (const Op& final : finals) {
      const int noise = std::uniform_int_distribution<int>(0, 3)(rng);
      for (int i = 0; i < noise; ++i) {
        ops.push_back(noiseFor(rng, final));
      }
      if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
        const std::string id = "tmp" + std::to_string(temp++);
        if (temp % 2 == 0) {
          ops.push_back(SetSelector{id, testing::randomSelectorText(rng)});
          cleanup.push_back(DeleteSelector{id});
        } else {
          ops.push_back(SetItem{id, testing::randomLabels(rng), randomParents(rng)});
          cleanup.push_back(DeleteItem{id});
        }
      }
      ops.push_back(final);
    }
    // Parents without final labels get some for a while.
    for (const std::string& p : kParentIds) {
      const bool hasFinal = std::any_of(f.parents.begin(), f.parents.end(), [&](const Op& op) {
        return std::get<SetParent>(op).id == p;
      });
      if (!hasFinal) {
        const auto at = std::uniform_int_distribution<size_t>(0, ops.size())(rng);
        ops.insert(ops.begin() + static_cast<std::ptrdiff_t>(at),
                   SetParent{p, testing::randomLabels(rng)});
        cleanup.push_back(DeleteParent{p});
      }
    }
    std::shuffle(cleanup.begin(), cleanup.end(), rng);
    ops.insert(ops.end(), cleanup.begin(), cleanup.end());
    orders.push_back(ops);
  }

  Model finalModel;
  for (const Op& op : orders[0]) {
    finalModel.apply(op);
  }
  const MatchSet expected = finalModel.bruteForce();
  ASSERT_FALSE(expected.empty()); // the vocabulary is small enough that something matches

  for (size_t i = 0; i < orders.size(); ++i) {
    SCOPED_TRACE("order " + std::to_string(i));
    const auto [pruned, prunedSteps] = replay(orders[i], LabelIndex::Pruning::ByLabelKey);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(pruned, expected);
    // The unpruned index must emit the same events, step by step.
    const auto [full, fullSteps] = replay(orders[i], LabelIndex::Pruning::None);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(full, expected);
    EXPECT_EQ(prunedSteps, fullSteps);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, LabelIndexReplay, ::testing::Range(1u, 25u));

} // namespace
} // namespace caracal::felix::calc
