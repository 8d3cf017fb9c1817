#pragma once
// Kubernetes label and field selectors, as used by the `labelSelector` and `fieldSelector` query
// parameters of list and watch requests, and by LabelSelector objects (matchLabels /
// matchExpressions) inside resources such as networking.k8s.io/v1 NetworkPolicy.
//
// This is the Kubernetes syntax, not Calico's selector language (api/selector.h):
//
//   selector    := "" | requirement ("," requirement)*          (',' is AND)
//   requirement := ["!"] key                                    (exists / does not exist)
//                | key ("=" | "==" | "!=") [value]              (an empty value is "")
//                | key ("in" | "notin") "(" [value ("," value)*] ")"
//                | key (">" | "<") integer
//   key         := [prefix "/"] name    prefix: DNS-1123 subdomain (<= 253), name: <= 63 chars
//                                        [A-Za-z0-9._-], alphanumeric at both ends
//   value       := "" or <= 63 chars [A-Za-z0-9._-], alphanumeric at both ends
//
// Blanks (space, tab, CR, LF) may separate any two tokens. `!=` and `notin` match objects that do
// not have the label, as in Kubernetes; `=`, `==`, `in`, `>` and `<` need it. The empty selector
// matches everything. Parse errors are Code::BadRequest and name the 0-based byte position and the
// token found, e.g. `unable to parse label selector "a in (b c)": found 'c' at position 8,
// expected: ',' or ')'`.
//
// Parsed selectors are immutable values, cheap to copy and safe to share between threads.

#include "common/result.h"
#include "common/value.h"

#include <string>
#include <string_view>
#include <vector>

namespace caracal::apiserver {

// "" when `key` is a valid label key (also annotation keys), else why not.
std::string checkLabelKey(std::string_view key);
// "" when `value` is a valid label value, else why not.
std::string checkLabelValue(std::string_view value);

class LabelSelector {
public:
  enum class Operator { Equals, DoubleEquals, NotEquals, In, NotIn, Exists, DoesNotExist, Gt, Lt };

  struct Requirement {
    std::string key;
    Operator op = Operator::Exists;
    std::vector<std::string> values; // sorted, without duplicates

    // `labels` is a metadata.labels object (null or absent labels: no labels).
    bool matches(const Value& labels) const;
    // "app=web", "tier in (be,fe)", "!legacy".
    std::string str() const;
    bool operator==(const Requirement&) const = default;
  };

  // The empty selector: matches everything.
  LabelSelector() = default;

  static Result<LabelSelector> parse(std::string_view text);

  // True when every requirement holds for the labels object (a metadata.labels value; null means
  // no labels). Non-string label values are compared by their JSON text.
  bool matches(const Value& labelsObject) const;
  bool empty() const { return requirements_.empty(); }
  // Canonical text, Kubernetes' form: requirements sorted by key (stably) and joined with ',', set
  // values sorted: `app=web,tier notin (db,fe)`. Parsing it gives an equal selector.
  std::string str() const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

  bool operator==(const LabelSelector&) const = default;

private:
  explicit LabelSelector(std::vector<Requirement> requirements);
  friend Result<LabelSelector> labelSelectorFromObject(const Value& selectorObject);

  std::vector<Requirement> requirements_;
};

// Converts a Kubernetes LabelSelector object ({"matchLabels": {k: v}, "matchExpressions": [{"key":
// k, "operator": "In" | "NotIn" | "Exists" | "DoesNotExist", "values": [...]}]}) to a selector that
// ANDs all of it. Both null and {} give the empty selector (matches everything); callers for which
// an absent selector means "nothing" (Kubernetes' LabelSelectorAsSelector(nil)) must check for null
// first. Errors are Code::Invalid with one FieldCause per problem, field paths relative to the
// selector ("matchExpressions[1].values": "must be specified when `operator` is 'In' or 'NotIn'").
Result<LabelSelector> labelSelectorFromObject(const Value& selectorObject);

// Field selector: `metadata.name=x,metadata.namespace!=y`. Operators `=`, `==` and `!=`; terms are
// separated by ','; in a value, `\,`, `\=` and `\\` stand for ',', '=' and '\' (an unescaped '=' or
// another escape is an error). Blanks around fields and values are ignored. A field is a dotted
// path evaluated on the whole object; strings, numbers and booleans compare by their text, and a
// missing or null field counts as "" (so `spec.nodeName=` matches objects without one). Which
// fields are allowed is the caller's decision: check fields() and reject the ones it does not
// support. Errors are Code::BadRequest naming the term and its byte position.
class FieldSelector {
public:
  enum class Operator { Equals, DoubleEquals, NotEquals };

  struct Requirement {
    std::string field;
    Operator op = Operator::Equals;
    std::string value;

    bool matches(const Value& obj) const;
    std::string str() const; // value escaped as in the input syntax
    bool operator==(const Requirement&) const = default;
  };

  FieldSelector() = default; // matches everything

  static Result<FieldSelector> parse(std::string_view text);

  bool matches(const Value& obj) const;
  // The distinct fields named, in order of first appearance.
  std::vector<std::string> fields() const;
  bool empty() const { return requirements_.empty(); }
  std::string str() const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

  bool operator==(const FieldSelector&) const = default;

private:
  std::vector<Requirement> requirements_;
};

} // namespace caracal::apiserver
