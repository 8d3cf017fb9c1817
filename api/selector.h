#pragma once
// The Calico label selector language.
//
//   sel   := "" | or                 or  := and ("||" and)*        and := unary ("&&" unary)*
//   unary := "!"* term
//   term  := "all()" | "global()" | "has(" label ")" | "(" or ")"
//          | label ("=="|"!=") str | label ("in"|"not in") "{" [str ("," str)*] "}"
//          | label ("contains"|"starts with"|"ends with") str
//   label := [A-Za-z0-9_./-]+ (<= 512 chars)    str := '...' | "..." (no escapes)
//
// `==`, `in`, `contains`, `starts with`, `ends with` and `has` are false when the label is absent;
// `!=` and `not in` are true when it is absent. An empty selector is `all()`. `global()` is true.
//
// Details that match Calico's parser: a run of `!` keeps its parity (`!!has(a)` is `has(a)`);
// `has(`, `all(` and `global(` need the `(` right after the word (`has (a)` is an error), but
// blanks are allowed inside; operator words are only recognised right after a label, `notin`,
// `startswith` and `endswith` are accepted, and a set may end with a trailing comma (`{'a',}`).
// Blanks are spaces and tabs only.
//
// A parsed Selector is immutable and cheap to evaluate. Its canonical string (`str()`) is the same
// for selectors that differ only in spacing, quoting style or redundant parentheses, so it is used
// as the key under which equal selectors share work (label index, IP sets).

#include "common/result.h"

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace caracal::api {

using Labels = std::map<std::string, std::string, std::less<>>;

class SelectorNode; // private AST node

class Selector {
public:
  // The selector that matches everything, `all()`.
  Selector();

  // Parses `text`. Errors are Code::Invalid with a message naming the 1-based column:
  // "column 14: expected ')'" (for example). Columns count characters (UTF-8 code points), a tab
  // counting as one. Parentheses may nest at most kMaxNesting deep and labels are at most
  // kMaxLabelLength bytes long.
  static Result<Selector> parse(std::string_view text);

  static constexpr int kMaxNesting = 256;
  static constexpr size_t kMaxLabelLength = 512;

  // True when the labels satisfy the selector. Allocates nothing; safe to call from any thread.
  bool matches(const Labels& labels) const;

  // Canonical printed form: `app == "web" && has(env)`, double quotes (single quotes only around a
  // value containing `"`), single spaces, minimal parentheses, set members sorted and de-duplicated
  // (`tier in {"be", "fe"}`), one `!` at most (`!has(a)`, `!(a == "b")`, `!(a || b)`); all() for
  // the empty selector. Parsing str() gives an equal selector with the same str().
  const std::string& str() const { return canonical_; }

  bool operator==(const Selector& o) const { return canonical_ == o.canonical_; }

private:
  Selector(std::shared_ptr<const SelectorNode> root, std::string canonical);

  std::shared_ptr<const SelectorNode> root_;
  std::string canonical_;
};

// Convenience: Status::ok() when `text` parses, else the parse error.
Status validateSelector(std::string_view text);

} // namespace caracal::api
