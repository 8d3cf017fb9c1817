#include "api/selector.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace caracal::api {

// One node of a parsed selector. The tree is normalised while it is built, so that printing it
// gives the canonical form directly: And/Or never have a child of their own kind (nested groups are
// spliced in), Not never wraps another Not (a double negation cancels), and set values are sorted
// and unique (so `in` can binary-search).
class SelectorNode {
public:
  enum class Kind {
    All,
    Global,
    Has,
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Not,
    And,
    Or,
  };

  explicit SelectorNode(Kind k) : kind(k) {}

  Kind kind;
  std::string label;                                   // label-based kinds
  std::string value;                                   // Eq, Ne, Contains, StartsWith, EndsWith
  std::vector<std::string> values;                     // In, NotIn: sorted, unique
  std::vector<std::unique_ptr<SelectorNode>> children; // Not (one), And, Or (two or more)
};

namespace {

using Kind = SelectorNode::Kind;
using NodePtr = std::unique_ptr<SelectorNode>;

constexpr std::string_view kTermExpected = "a label, has(), all(), global(), '!' or '('";
constexpr std::string_view kOperators = "==, !=, in, not in, contains, starts with, ends with";
constexpr size_t kMaxQuotedWord = 40; // longest word quoted verbatim in an error message

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '/' || c == '-';
}

bool isBlank(char c) { return c == ' ' || c == '\t'; }

bool isQuote(char c) { return c == '"' || c == '\''; }

std::string quoteForMessage(std::string_view word) {
  if (word.size() > kMaxQuotedWord) {
    return "'" + std::string(word.substr(0, kMaxQuotedWord)) + "...'";
  }
  return "'" + std::string(word) + "'";
}

// ---------------------------------------------------------------------------------------------
// Parsing: recursive descent straight over the characters. Operator words are context dependent
// (only meaningful right after a label), so there is no separate token stream.

// The recursive functions return the node, or null after recording the first error in `error_`.
// They deliberately carry no Result/Status/std::string locals: each level of parentheses passes
// through several of them, and keeping their frames small keeps the stack needed for kMaxNesting
// levels small (about 400 bytes a level). Messages are built only on failure, out of line.
class Parser {
public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<NodePtr> parse() {
    skipBlanks();
    if (atEnd()) {
      return std::make_unique<SelectorNode>(Kind::All);
    }
    NodePtr root = parseOr();
    if (root != nullptr) {
      skipBlanks();
      if (!atEnd()) {
        return fail(pos_, Expect::EndOfSelector);
      }
      return root;
    }
    return error_;
  }

private:
  // What a failure expected; turned into words by describeExpected().
  enum class Expect {
    EndOfSelector, // after a complete top-level expression
    CloseParen,    // after a complete parenthesised expression; detail = column of '('
    Term,
    Operator,   // after a label; `word` = the label
    SecondWord, // 'in' after 'not', 'with' after 'starts'/'ends'; `word` = first word
    QuotedString,
    SetStart,
    SetValue,
    SetSeparator,
    HasLabel,
    HasClose,
    CallClose, // ')' after all( / global(; `word` = function name
  };

  bool atEnd() const { return pos_ >= text_.size(); }
  bool peekIs(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  void skipBlanks() {
    while (pos_ < text_.size() && isBlank(text_[pos_])) {
      ++pos_;
    }
  }

  // After blanks, does `op` come next? Does not consume it.
  bool lookingAt(std::string_view op) {
    skipBlanks();
    return text_.substr(pos_).starts_with(op);
  }

  // Consumes and returns the run of label characters at pos_ (possibly empty).
  std::string_view scanWord() {
    const size_t start = pos_;
    while (pos_ < text_.size() && isLabelChar(text_[pos_])) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  std::string_view wordAt(size_t pos) const {
    size_t end = pos;
    while (end < text_.size() && isLabelChar(text_[end])) {
      ++end;
    }
    return text_.substr(pos, end - pos);
  }

  // 1-based column of byte offset `pos`, counting UTF-8 code points rather than bytes.
  size_t column(size_t pos) const {
    size_t col = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
        ++col;
      }
    }
    return col;
  }

  std::string columnPrefix(size_t pos) const {
    return "column " + std::to_string(column(pos)) + ": ";
  }

  // What the user wrote at `pos`, for "found ..." in messages.
  std::string describe(size_t pos) const {
    const char c = text_[pos];
    if (isLabelChar(c)) {
      return quoteForMessage(wordAt(pos));
    }
    const std::string_view rest = text_.substr(pos);
    for (std::string_view op : {"&&", "||", "==", "!="}) {
      if (rest.starts_with(op)) {
        return "'" + std::string(op) + "'";
      }
    }
    if (isQuote(c)) {
      return "a quoted string";
    }
    if (c == '\n') {
      return "a newline";
    }
    if (c == '\r') {
      return "a carriage return";
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7F) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "byte 0x%02X", u);
      return buf;
    }
    return std::string("'") + c + "'";
  }

  std::string describeExpected(Expect expect, std::string_view word, size_t detail) const {
    switch (expect) {
    case Expect::EndOfSelector:
      return "'&&', '||' or the end of the selector";
    case Expect::CloseParen:
      return "'&&', '||' or ')' to close the '(' at column " + std::to_string(detail);
    case Expect::Term:
      return std::string(kTermExpected);
    case Expect::Operator:
      return "an operator (" + std::string(kOperators) + ") after label " + quoteForMessage(word);
    case Expect::SecondWord:
      return std::string(word == "not" ? "'in'" : "'with'") + " after '" + std::string(word) + "'";
    case Expect::QuotedString:
      return "a quoted string";
    case Expect::SetStart:
      return "'{' to start the set of values";
    case Expect::SetValue:
      return "a quoted string or '}'";
    case Expect::SetSeparator:
      return "',' or '}'";
    case Expect::HasLabel:
      return "a label inside has()";
    case Expect::HasClose:
      return "')' to close has(";
    case Expect::CallClose:
      return "')' after " + std::string(word) + "(";
    }
    return "";
  }

  // A hint for the commonest slips, given what was expected and what is at `pos`.
  std::string hint(Expect expect, std::string_view word, size_t pos) const {
    const std::string_view rest = text_.substr(pos);
    if (rest.starts_with("\n") || rest.starts_with("\r")) {
      return " (only spaces and tabs may separate tokens)";
    }
    switch (expect) {
    case Expect::EndOfSelector:
    case Expect::CloseParen:
      if (rest.starts_with("&") && !rest.starts_with("&&")) {
        return " (did you mean '&&'?)";
      }
      if (rest.starts_with("|") && !rest.starts_with("||")) {
        return " (did you mean '||'?)";
      }
      return "";
    case Expect::Operator:
      if (rest.starts_with("=")) { // a single '=': "==" would have been accepted
        return " (did you mean '=='?)";
      }
      if ((word == "has" || word == "all" || word == "global") && rest.starts_with("(")) {
        return " (write " + std::string(word) + "( with no space before the '(')";
      }
      return "";
    case Expect::QuotedString:
    case Expect::SetValue: {
      const std::string_view bare = wordAt(pos);
      if (bare.empty()) {
        return "";
      }
      if (bare.size() > kMaxQuotedWord) {
        return " (values must be quoted)";
      }
      return " (values must be quoted, e.g. \"" + std::string(bare) + "\")";
    }
    default:
      return "";
    }
  }

  // "column N: expected X, found Y" or, at the end, "column N: unexpected end of selector, expected
  // X".
  [[gnu::noinline, gnu::cold]] Status fail(size_t pos, Expect expect, std::string_view word = {},
                                           size_t detail = 0) const {
    std::string msg = columnPrefix(pos);
    if (pos >= text_.size()) {
      msg += "unexpected end of selector, expected " + describeExpected(expect, word, detail);
    } else {
      msg += "expected " + describeExpected(expect, word, detail) + ", found " + describe(pos) +
             hint(expect, word, pos);
    }
    return Status(Code::Invalid, std::move(msg));
  }

  // Records the first failure; returns null so callers can `return failNode(...)`.
  [[gnu::noinline, gnu::cold]] NodePtr failNode(size_t pos, Expect expect,
                                                std::string_view word = {}, size_t detail = 0) {
    error_ = fail(pos, expect, word, detail);
    return nullptr;
  }

  [[gnu::noinline, gnu::cold]] NodePtr failMessage(size_t pos, std::string_view message) {
    error_ = Status(Code::Invalid, columnPrefix(pos) + std::string(message));
    return nullptr;
  }

  [[gnu::noinline, gnu::cold]] NodePtr failTooDeep(size_t pos) {
    return failMessage(pos, "parentheses nested more than " +
                                std::to_string(Selector::kMaxNesting) + " deep");
  }

  // True, with error_ set, when the label is too long.
  bool labelTooLong(std::string_view label, size_t start) {
    if (label.size() <= Selector::kMaxLabelLength) {
      return false;
    }
    failMessage(start, "label is " + std::to_string(label.size()) +
                           " characters long, the maximum is " +
                           std::to_string(Selector::kMaxLabelLength));
    return true;
  }

  // Adds `child` to an And/Or group, splicing in a child group of the same kind.
  [[gnu::noinline]] static void adopt(SelectorNode& group, NodePtr child) {
    if (child->kind != group.kind) {
      group.children.push_back(std::move(child));
      return;
    }
    for (auto& grandchild : child->children) {
      group.children.push_back(std::move(grandchild));
    }
  }

  // or := and ("||" and)*     and := unary ("&&" unary)*
  NodePtr parseOr() { return parseGroup(Kind::Or, "||"); }
  NodePtr parseAnd() { return parseGroup(Kind::And, "&&"); }

  NodePtr parseGroup(Kind kind, std::string_view op) {
    NodePtr first = kind == Kind::Or ? parseAnd() : parseUnary();
    if (first == nullptr || !lookingAt(op)) {
      return first;
    }
    auto group = std::make_unique<SelectorNode>(kind);
    adopt(*group, std::move(first));
    while (lookingAt(op)) {
      pos_ += 2;
      NodePtr next = kind == Kind::Or ? parseAnd() : parseUnary();
      if (next == nullptr) {
        return nullptr;
      }
      adopt(*group, std::move(next));
    }
    return group;
  }

  // unary := "!"* term; only the parity of the run matters.
  NodePtr parseUnary() {
    bool negate = false;
    skipBlanks();
    while (peekIs('!')) {
      negate = !negate;
      ++pos_;
      skipBlanks();
    }
    NodePtr term = parseTerm();
    if (term == nullptr || !negate) {
      return term;
    }
    if (term->kind == Kind::Not) { // !(!x) is x
      return std::move(term->children.front());
    }
    auto node = std::make_unique<SelectorNode>(Kind::Not);
    node->children.push_back(std::move(term));
    return node;
  }

  NodePtr parseTerm() {
    skipBlanks();
    if (peekIs('(')) {
      return parseParenthesised();
    }
    if (atEnd() || !isLabelChar(text_[pos_])) {
      return failNode(pos_, Expect::Term);
    }
    const size_t start = pos_;
    const std::string_view word = scanWord();
    if (peekIs('(')) {
      if (word == "has") {
        return parseHas();
      }
      if (word == "all") {
        return parseEmptyCall(Kind::All, word);
      }
      if (word == "global") {
        return parseEmptyCall(Kind::Global, word);
      }
    }
    if (labelTooLong(word, start)) {
      return nullptr;
    }
    return parseComparison(word);
  }

  NodePtr parseParenthesised() {
    const size_t open = pos_;
    if (depth_ >= Selector::kMaxNesting) {
      return failTooDeep(open);
    }
    ++depth_;
    ++pos_;
    NodePtr inner = parseOr();
    if (inner == nullptr) {
      return nullptr;
    }
    skipBlanks();
    if (!peekIs(')')) {
      return failNode(pos_, Expect::CloseParen, {}, column(open));
    }
    ++pos_;
    --depth_;
    return inner;
  }

  // After "has", with pos_ on the '('.
  [[gnu::noinline]] NodePtr parseHas() {
    ++pos_;
    skipBlanks();
    const size_t start = pos_;
    const std::string_view label = scanWord();
    if (label.empty()) {
      return failNode(pos_, Expect::HasLabel);
    }
    if (labelTooLong(label, start)) {
      return nullptr;
    }
    skipBlanks();
    if (!peekIs(')')) {
      return failNode(pos_, Expect::HasClose);
    }
    ++pos_;
    auto node = std::make_unique<SelectorNode>(Kind::Has);
    node->label = std::string(label);
    return node;
  }

  // After "all" or "global", with pos_ on the '('.
  [[gnu::noinline]] NodePtr parseEmptyCall(Kind kind, std::string_view name) {
    ++pos_;
    skipBlanks();
    if (!peekIs(')')) {
      return failNode(pos_, Expect::CallClose, name);
    }
    ++pos_;
    return std::make_unique<SelectorNode>(kind);
  }

  // label <operator> <operand>, with the label already consumed. Not inlined (nor are the other
  // leaves) so that its locals stay out of the frames that recurse.
  [[gnu::noinline]] NodePtr parseComparison(std::string_view label) {
    skipBlanks();
    const size_t opStart = pos_;
    Kind kind;
    if (lookingAt("==")) {
      kind = Kind::Eq;
      pos_ += 2;
    } else if (lookingAt("!=")) {
      kind = Kind::Ne;
      pos_ += 2;
    } else {
      const std::string_view word = scanWord();
      if (word == "in") {
        kind = Kind::In;
      } else if (word == "notin") {
        kind = Kind::NotIn;
      } else if (word == "contains") {
        kind = Kind::Contains;
      } else if (word == "startswith") {
        kind = Kind::StartsWith;
      } else if (word == "endswith") {
        kind = Kind::EndsWith;
      } else if (word == "not" || word == "starts" || word == "ends") {
        skipBlanks();
        const size_t secondStart = pos_;
        if (scanWord() != (word == "not" ? "in" : "with")) {
          return failNode(secondStart, Expect::SecondWord, word);
        }
        kind = word == "not" ? Kind::NotIn : word == "starts" ? Kind::StartsWith : Kind::EndsWith;
      } else {
        return failNode(opStart, Expect::Operator, label);
      }
    }

    auto node = std::make_unique<SelectorNode>(kind);
    node->label = std::string(label);
    const bool ok =
        kind == Kind::In || kind == Kind::NotIn ? parseSet(node->values) : parseString(node->value);
    if (!ok) {
      return nullptr;
    }
    return node;
  }

  // "{" [str ("," str)*] [","] "}"; stores the values sorted and unique.
  bool parseSet(std::vector<std::string>& values) {
    skipBlanks();
    if (!peekIs('{')) {
      failNode(pos_, Expect::SetStart);
      return false;
    }
    ++pos_;
    while (true) {
      skipBlanks();
      if (peekIs('}')) { // empty set, or a trailing comma
        ++pos_;
        break;
      }
      if (atEnd() || !isQuote(text_[pos_])) {
        failNode(pos_, Expect::SetValue);
        return false;
      }
      values.emplace_back();
      if (!parseString(values.back())) {
        return false;
      }
      skipBlanks();
      if (peekIs(',')) {
        ++pos_;
        continue;
      }
      if (peekIs('}')) {
        ++pos_;
        break;
      }
      failNode(pos_, Expect::SetSeparator);
      return false;
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return true;
  }

  // A quoted string; the quote style picks the delimiter and there are no escapes.
  bool parseString(std::string& out) {
    skipBlanks();
    if (atEnd() || !isQuote(text_[pos_])) {
      failNode(pos_, Expect::QuotedString);
      return false;
    }
    const char quote = text_[pos_];
    const size_t close = text_.find(quote, pos_ + 1);
    if (close == std::string_view::npos) {
      failMessage(pos_, std::string("unterminated string, expected a closing ") + quote +
                            " before the end of the selector");
      return false;
    }
    out.assign(text_.substr(pos_ + 1, close - pos_ - 1));
    pos_ = close + 1;
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  Status error_;
};

// ---------------------------------------------------------------------------------------------
// Canonical printing.

void appendQuoted(std::string& out, std::string_view value) {
  // Values cannot contain both quote characters: the delimiter they were written with excludes one.
  const char quote = value.find('"') == std::string_view::npos ? '"' : '\'';
  out += quote;
  out += value;
  out += quote;
}

void print(const SelectorNode& n, std::string& out) {
  const auto binary = [&](std::string_view op) {
    out += n.label;
    out += op;
    appendQuoted(out, n.value);
  };
  const auto set = [&](std::string_view op) {
    out += n.label;
    out += op;
    out += '{';
    for (size_t i = 0; i < n.values.size(); ++i) {
      if (i > 0) {
        out += ", ";
      }
      appendQuoted(out, n.values[i]);
    }
    out += '}';
  };
  switch (n.kind) {
  case Kind::All:
    out += "all()";
    return;
  case Kind::Global:
    out += "global()";
    return;
  case Kind::Has:
    out += "has(";
    out += n.label;
    out += ')';
    return;
  case Kind::Eq:
    return binary(" == ");
  case Kind::Ne:
    return binary(" != ");
  case Kind::Contains:
    return binary(" contains ");
  case Kind::StartsWith:
    return binary(" starts with ");
  case Kind::EndsWith:
    return binary(" ends with ");
  case Kind::In:
    return set(" in ");
  case Kind::NotIn:
    return set(" not in ");
  case Kind::Not: {
    // Parentheses only around comparisons and groups: `!has(a)` but `!(a == "b")`.
    const SelectorNode& child = *n.children.front();
    const bool call =
        child.kind == Kind::Has || child.kind == Kind::All || child.kind == Kind::Global;
    out += call ? "!" : "!(";
    print(child, out);
    if (!call) {
      out += ')';
    }
    return;
  }
  case Kind::And:
  case Kind::Or:
    for (size_t i = 0; i < n.children.size(); ++i) {
      if (i > 0) {
        out += n.kind == Kind::And ? " && " : " || ";
      }
      // Normalisation leaves only Or-inside-And needing parentheses.
      const bool paren = n.kind == Kind::And && n.children[i]->kind == Kind::Or;
      if (paren) {
        out += '(';
      }
      print(*n.children[i], out);
      if (paren) {
        out += ')';
      }
    }
    return;
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation: no allocation (the map is searched with the node's own std::string key).

const std::string* lookup(const Labels& labels, const std::string& key) {
  const auto it = labels.find(key);
  return it == labels.end() ? nullptr : &it->second;
}

bool evaluate(const SelectorNode& n, const Labels& labels) {
  switch (n.kind) {
  case Kind::All:
  case Kind::Global:
    return true;
  case Kind::Has:
    return labels.find(n.label) != labels.end();
  case Kind::Eq: {
    const std::string* v = lookup(labels, n.label);
    return v != nullptr && *v == n.value;
  }
  case Kind::Ne: {
    const std::string* v = lookup(labels, n.label);
    return v == nullptr || *v != n.value;
  }
  case Kind::In: {
    const std::string* v = lookup(labels, n.label);
    return v != nullptr && std::binary_search(n.values.begin(), n.values.end(), *v);
  }
  case Kind::NotIn: {
    const std::string* v = lookup(labels, n.label);
    return v == nullptr || !std::binary_search(n.values.begin(), n.values.end(), *v);
  }
  case Kind::Contains: {
    const std::string* v = lookup(labels, n.label);
    return v != nullptr && v->find(n.value) != std::string::npos;
  }
  case Kind::StartsWith: {
    const std::string* v = lookup(labels, n.label);
    return v != nullptr && v->starts_with(n.value);
  }
  case Kind::EndsWith: {
    const std::string* v = lookup(labels, n.label);
    return v != nullptr && v->ends_with(n.value);
  }
  case Kind::Not:
    return !evaluate(*n.children.front(), labels);
  case Kind::And:
    for (const auto& child : n.children) {
      if (!evaluate(*child, labels)) {
        return false;
      }
    }
    return true;
  case Kind::Or:
    for (const auto& child : n.children) {
      if (evaluate(*child, labels)) {
        return true;
      }
    }
    return false;
  }
  return false;
}

const std::shared_ptr<const SelectorNode>& allNode() {
  static const std::shared_ptr<const SelectorNode> node =
      std::make_shared<const SelectorNode>(Kind::All);
  return node;
}

} // namespace

Selector::Selector() : root_(allNode()), canonical_("all()") {}

Selector::Selector(std::shared_ptr<const SelectorNode> root, std::string canonical)
    : root_(std::move(root)), canonical_(std::move(canonical)) {}

Result<Selector> Selector::parse(std::string_view text) {
  Parser parser(text);
  ASSIGN_OR_RETURN(NodePtr root, parser.parse());
  std::string canonical;
  print(*root, canonical);
  return Selector(std::shared_ptr<const SelectorNode>(std::move(root)), std::move(canonical));
}

bool Selector::matches(const Labels& labels) const {
  // Only a moved-from Selector has no root; treat it as all() rather than crash.
  return root_ == nullptr || evaluate(*root_, labels);
}

Status validateSelector(std::string_view text) { return Selector::parse(text).status(); }

} // namespace caracal::api
