#include "apiserver/k8s_selector.h"

#include "common/strings.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace caracal::apiserver {

namespace {

constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxPrefixLength = 253;

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? -- a label name or a non-empty label value.
bool isQualifiedPart(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A DNS-1123 subdomain: lower-case labels of [a-z0-9-] joined by '.', alphanumeric at both ends.
bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxPrefixLength) {
    return false;
  }
  for (const std::string& label : split(s, '.')) {
    if (label.empty()) {
      return false;
    }
    auto lowerAlnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lowerAlnum(label.front()) || !lowerAlnum(label.back())) {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(),
                     [&](char c) { return lowerAlnum(c) || c == '-'; })) {
      return false;
    }
  }
  return true;
}

std::string labelText(const Value& v) {
  if (v.isString()) {
    return v.asString();
  }
  return toJson(v);
}

std::optional<int64_t> parseInteger(std::string_view s) {
  int64_t n = 0;
  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (!s.empty() && s[0] == '+') {
    ++begin;
  }
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || ptr != end || begin == end) {
    return std::nullopt;
  }
  return n;
}

const char* operatorText(LabelSelector::Operator op) {
  using Op = LabelSelector::Operator;
  switch (op) {
  case Op::Equals:
    return "=";
  case Op::DoubleEquals:
    return "==";
  case Op::NotEquals:
    return "!=";
  case Op::In:
    return " in ";
  case Op::NotIn:
    return " notin ";
  case Op::Gt:
    return ">";
  case Op::Lt:
    return "<";
  case Op::Exists:
  case Op::DoesNotExist:
    return "";
  }
  return "";
}

// ------------------------------------------------------------------------------------------------
// Label selector lexer and parser

enum class Tok { End, Identifier, Comma, Open, Close, Not, Eq, DoubleEq, NotEq, Gt, Lt, In, NotIn };

struct Token {
  Tok kind = Tok::End;
  std::string text;
  size_t pos = 0;
};

bool isSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    while (i < s.size() && isBlank(s[i])) {
      ++i;
    }
    if (i >= s.size()) {
      tokens.push_back({Tok::End, "", s.size()});
      return tokens;
    }
    size_t start = i;
    char c = s[i];
    auto two = [&](char next) { return i + 1 < s.size() && s[i + 1] == next; };
    if (c == '=' && two('=')) {
      tokens.push_back({Tok::DoubleEq, "==", start});
      i += 2;
    } else if (c == '!' && two('=')) {
      tokens.push_back({Tok::NotEq, "!=", start});
      i += 2;
    } else if (isSpecial(c)) {
      static constexpr std::pair<char, Tok> kSingles[] = {
          {'=', Tok::Eq},    {'!', Tok::Not}, {'(', Tok::Open}, {')', Tok::Close},
          {',', Tok::Comma}, {'>', Tok::Gt},  {'<', Tok::Lt}};
      for (const auto& [ch, kind] : kSingles) {
        if (ch == c) {
          tokens.push_back({kind, std::string(1, c), start});
        }
      }
      ++i;
    } else {
      while (i < s.size() && !isBlank(s[i]) && !isSpecial(s[i])) {
        ++i;
      }
      std::string word(s.substr(start, i - start));
      Tok kind = word == "in" ? Tok::In : word == "notin" ? Tok::NotIn : Tok::Identifier;
      tokens.push_back({kind, std::move(word), start});
    }
  }
}

class LabelParser {
public:
  explicit LabelParser(std::string_view text) : text_(text), tokens_(lex(text)) {}

  Result<std::vector<LabelSelector::Requirement>> parse() {
    std::vector<LabelSelector::Requirement> out;
    while (true) {
      const Token& t = peek();
      if (t.kind == Tok::End) {
        return out;
      }
      if (t.kind != Tok::Identifier && t.kind != Tok::Not) {
        return unexpected(t, "'!', a label key or the end of the selector");
      }
      ASSIGN_OR_RETURN(LabelSelector::Requirement r, parseRequirement());
      out.push_back(std::move(r));
      const Token& after = next();
      if (after.kind == Tok::End) {
        return out;
      }
      if (after.kind != Tok::Comma) {
        return unexpected(after, "',' or the end of the selector");
      }
      const Token& following = peek();
      if (following.kind != Tok::Identifier && following.kind != Tok::Not) {
        return unexpected(following, "'!' or a label key after ','");
      }
    }
  }

private:
  const Token& peek() const { return tokens_[index_]; }
  const Token& next() {
    const Token& t = tokens_[index_];
    if (index_ + 1 < tokens_.size()) {
      ++index_;
    }
    return t;
  }

  Status error(size_t pos, const std::string& what) const {
    return Status(Code::BadRequest, "unable to parse label selector " + jsonQuote(text_) + ": " +
                                        what + " at position " + std::to_string(pos));
  }

  Status unexpected(const Token& t, const std::string& expected) const {
    std::string found = t.kind == Tok::End ? "end of string" : "'" + t.text + "'";
    return Status(Code::BadRequest, "unable to parse label selector " + jsonQuote(text_) +
                                        ": found " + found + " at position " +
                                        std::to_string(t.pos) + ", expected: " + expected);
  }

  Result<LabelSelector::Requirement> parseRequirement() {
    using Op = LabelSelector::Operator;
    LabelSelector::Requirement r;
    bool negated = false;
    if (peek().kind == Tok::Not) {
      next();
      negated = true;
    }
    const Token& keyTok = next();
    if (keyTok.kind != Tok::Identifier) {
      return unexpected(keyTok, "a label key");
    }
    if (std::string why = checkLabelKey(keyTok.text); !why.empty()) {
      return error(keyTok.pos, "invalid label key " + jsonQuote(keyTok.text) + " (" + why + ")");
    }
    r.key = keyTok.text;
    Tok after = peek().kind;
    if (negated || after == Tok::End || after == Tok::Comma) {
      r.op = negated ? Op::DoesNotExist : Op::Exists;
      return r;
    }
    const Token& opTok = next();
    switch (opTok.kind) {
    case Tok::Eq:
      r.op = Op::Equals;
      break;
    case Tok::DoubleEq:
      r.op = Op::DoubleEquals;
      break;
    case Tok::NotEq:
      r.op = Op::NotEquals;
      break;
    case Tok::In:
      r.op = Op::In;
      break;
    case Tok::NotIn:
      r.op = Op::NotIn;
      break;
    case Tok::Gt:
      r.op = Op::Gt;
      break;
    case Tok::Lt:
      r.op = Op::Lt;
      break;
    default:
      return unexpected(opTok, "one of '=', '==', '!=', 'in', 'notin', '>', '<'");
    }
    if (r.op == Op::In || r.op == Op::NotIn) {
      return parseSet(std::move(r), opTok.pos);
    }
    const Token& valueTok = peek();
    std::string value;
    size_t valuePos = valueTok.pos;
    if (valueTok.kind == Tok::Identifier || valueTok.kind == Tok::In ||
        valueTok.kind == Tok::NotIn) {
      value = next().text;
    } else if (valueTok.kind != Tok::End && valueTok.kind != Tok::Comma) {
      return unexpected(valueTok, "a label value");
    }
    if (r.op == Op::Gt || r.op == Op::Lt) {
      if (!parseInteger(value)) {
        return error(valuePos,
                     "value " + jsonQuote(value) + " for '" + opTok.text + "' must be an integer");
      }
    } else if (std::string why = checkLabelValue(value); !why.empty()) {
      return error(valuePos, "invalid label value " + jsonQuote(value) + " for key " +
                                 jsonQuote(r.key) + " (" + why + ")");
    }
    r.values.push_back(std::move(value));
    return r;
  }

  // "(" [value ("," value)*] ")"; like Kubernetes, an empty slot between commas is the value "".
  Result<LabelSelector::Requirement> parseSet(LabelSelector::Requirement r, size_t opPos) {
    const Token& open = next();
    if (open.kind != Tok::Open) {
      return unexpected(open, "'('");
    }
    bool expectValue = true;
    while (true) {
      const Token& t = next();
      if (t.kind == Tok::Close) {
        if (!r.values.empty() && expectValue) {
          r.values.push_back(""); // "(a,)"
        }
        break;
      }
      if (t.kind == Tok::Comma) {
        if (expectValue) {
          r.values.push_back(""); // "(,a)" or "(a,,b)"
        }
        expectValue = true;
        continue;
      }
      if (t.kind == Tok::Identifier || t.kind == Tok::In || t.kind == Tok::NotIn) {
        if (!expectValue) {
          return unexpected(t, "',' or ')'");
        }
        if (std::string why = checkLabelValue(t.text); !why.empty()) {
          return error(t.pos, "invalid label value " + jsonQuote(t.text) + " for key " +
                                  jsonQuote(r.key) + " (" + why + ")");
        }
        r.values.push_back(t.text);
        expectValue = false;
        continue;
      }
      return unexpected(t, expectValue ? "a label value, ',' or ')'" : "',' or ')'");
    }
    if (r.values.empty()) {
      return error(opPos, "the value set of 'in' and 'notin' must not be empty");
    }
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    return r;
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t index_ = 0;
};

void sortByKey(std::vector<LabelSelector::Requirement>& requirements) {
  std::stable_sort(requirements.begin(), requirements.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
}

// ------------------------------------------------------------------------------------------------
// Field selector helpers

std::string escapeFieldValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == ',' || c == '=') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

const char* fieldOperatorText(FieldSelector::Operator op) {
  switch (op) {
  case FieldSelector::Operator::Equals:
    return "=";
  case FieldSelector::Operator::DoubleEquals:
    return "==";
  case FieldSelector::Operator::NotEquals:
    return "!=";
  }
  return "=";
}

} // namespace

// ------------------------------------------------------------------------------------------------

std::string checkLabelKey(std::string_view key) {
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty()) {
      return "the prefix before '/' must not be empty";
    }
    if (prefix.size() > kMaxPrefixLength) {
      return "the prefix must be at most 253 characters";
    }
    if (!isDnsSubdomain(prefix)) {
      return "the prefix must be a DNS subdomain: lower-case alphanumeric characters, '-' or '.', "
             "starting and ending with an alphanumeric character";
    }
    if (name.find('/') != std::string_view::npos) {
      return "a key may contain at most one '/'";
    }
  }
  if (name.empty()) {
    return "the name part must not be empty";
  }
  if (name.size() > kMaxNameLength) {
    return "the name part must be at most 63 characters";
  }
  if (!isQualifiedPart(name)) {
    return "the name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character";
  }
  return "";
}

std::string checkLabelValue(std::string_view value) {
  if (value.empty()) {
    return "";
  }
  if (value.size() > kMaxNameLength) {
    return "must be at most 63 characters";
  }
  if (!isQualifiedPart(value)) {
    return "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character";
  }
  return "";
}

bool LabelSelector::Requirement::matches(const Value& labels) const {
  const Value* found = labels.find(key);
  switch (op) {
  case Operator::Exists:
    return found != nullptr;
  case Operator::DoesNotExist:
    return found == nullptr;
  case Operator::Equals:
  case Operator::DoubleEquals:
  case Operator::In:
    return found && std::binary_search(values.begin(), values.end(), labelText(*found));
  case Operator::NotEquals:
  case Operator::NotIn:
    return !found || !std::binary_search(values.begin(), values.end(), labelText(*found));
  case Operator::Gt:
  case Operator::Lt: {
    if (!found || values.size() != 1) {
      return false;
    }
    std::optional<int64_t> have = parseInteger(labelText(*found));
    std::optional<int64_t> bound = parseInteger(values[0]);
    if (!have || !bound) {
      return false;
    }
    return op == Operator::Gt ? *have > *bound : *have < *bound;
  }
  }
  return false;
}

std::string LabelSelector::Requirement::str() const {
  switch (op) {
  case Operator::Exists:
    return key;
  case Operator::DoesNotExist:
    return "!" + key;
  case Operator::In:
  case Operator::NotIn:
    return key + operatorText(op) + "(" + join(values, ",") + ")";
  default:
    return key + operatorText(op) + (values.empty() ? std::string() : values[0]);
  }
}

LabelSelector::LabelSelector(std::vector<Requirement> requirements)
    : requirements_(std::move(requirements)) {}

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelParser parser(text);
  ASSIGN_OR_RETURN(std::vector<Requirement> requirements, parser.parse());
  sortByKey(requirements);
  return LabelSelector(std::move(requirements));
}

bool LabelSelector::matches(const Value& labelsObject) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return r.matches(labelsObject); });
}

std::string LabelSelector::str() const {
  std::vector<std::string> parts;
  for (const Requirement& r : requirements_) {
    parts.push_back(r.str());
  }
  return join(parts, ",");
}

Result<LabelSelector> labelSelectorFromObject(const Value& selectorObject) {
  using Op = LabelSelector::Operator;
  if (selectorObject.isNull()) {
    return LabelSelector();
  }
  if (!selectorObject.isObject()) {
    return Status::invalidField("", std::string("a label selector must be an object, not a ") +
                                        selectorObject.typeName());
  }
  std::vector<FieldCause> causes;
  auto invalid = [&](std::string field, std::string message,
                     std::string reason = "FieldValueInvalid") {
    causes.push_back(FieldCause{std::move(field), std::move(message), std::move(reason)});
  };
  std::vector<LabelSelector::Requirement> requirements;

  if (const Value* matchLabels = selectorObject.find("matchLabels");
      matchLabels && !matchLabels->isNull()) {
    if (!matchLabels->isObject()) {
      invalid("matchLabels", std::string("must be an object, not a ") + matchLabels->typeName(),
              "FieldValueTypeInvalid");
    }
    for (const auto& [key, value] : matchLabels->asObject()) {
      std::string field = "matchLabels[" + key + "]";
      if (std::string why = checkLabelKey(key); !why.empty()) {
        invalid(field, "invalid label key " + jsonQuote(key) + ": " + why);
        continue;
      }
      if (!value.isString()) {
        invalid(field, std::string("must be a string, not a ") + value.typeName(),
                "FieldValueTypeInvalid");
        continue;
      }
      if (std::string why = checkLabelValue(value.asString()); !why.empty()) {
        invalid(field, "invalid label value " + jsonQuote(value.asString()) + ": " + why);
        continue;
      }
      requirements.push_back({key, Op::Equals, {value.asString()}});
    }
  }

  if (const Value* expressions = selectorObject.find("matchExpressions");
      expressions && !expressions->isNull()) {
    if (!expressions->isArray()) {
      invalid("matchExpressions", std::string("must be a list, not a ") + expressions->typeName(),
              "FieldValueTypeInvalid");
    }
    const auto& items = expressions->asArray();
    for (size_t i = 0; i < items.size(); ++i) {
      std::string base = "matchExpressions[" + std::to_string(i) + "]";
      const Value& e = items[i];
      if (!e.isObject()) {
        invalid(base, std::string("must be an object, not a ") + e.typeName(),
                "FieldValueTypeInvalid");
        continue;
      }
      LabelSelector::Requirement r;
      bool ok = true;
      const Value* key = e.find("key");
      if (!key || !key->isString() || key->asString().empty()) {
        invalid(base + ".key", "Required value", "FieldValueRequired");
        ok = false;
      } else if (std::string why = checkLabelKey(key->asString()); !why.empty()) {
        invalid(base + ".key", "invalid label key " + jsonQuote(key->asString()) + ": " + why);
        ok = false;
      } else {
        r.key = key->asString();
      }
      std::string op = e.getString("operator");
      if (op == "In") {
        r.op = Op::In;
      } else if (op == "NotIn") {
        r.op = Op::NotIn;
      } else if (op == "Exists") {
        r.op = Op::Exists;
      } else if (op == "DoesNotExist") {
        r.op = Op::DoesNotExist;
      } else {
        if (op.empty()) {
          invalid(base + ".operator", "Required value", "FieldValueRequired");
        } else {
          invalid(base + ".operator",
                  "Unsupported value: " + jsonQuote(op) +
                      ": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"",
                  "FieldValueNotSupported");
        }
        ok = false;
      }
      const Value* values = e.find("values");
      bool hasValues = values && !values->isNull() && values->size() > 0;
      if (values && !values->isNull() && !values->isArray()) {
        invalid(base + ".values", std::string("must be a list, not a ") + values->typeName(),
                "FieldValueTypeInvalid");
        ok = false;
      } else if (ok && (r.op == Op::In || r.op == Op::NotIn) && !hasValues) {
        invalid(base + ".values", "must be specified when `operator` is 'In' or 'NotIn'",
                "FieldValueRequired");
        ok = false;
      } else if (ok && (r.op == Op::Exists || r.op == Op::DoesNotExist) && hasValues) {
        invalid(base + ".values",
                "may not be specified when `operator` is 'Exists' or "
                "'DoesNotExist'",
                "FieldValueForbidden");
        ok = false;
      } else if (values) {
        const auto& list = values->asArray();
        for (size_t j = 0; j < list.size(); ++j) {
          std::string field = base + ".values[" + std::to_string(j) + "]";
          if (!list[j].isString()) {
            invalid(field, std::string("must be a string, not a ") + list[j].typeName(),
                    "FieldValueTypeInvalid");
            ok = false;
          } else if (std::string why = checkLabelValue(list[j].asString()); !why.empty()) {
            invalid(field, "invalid label value " + jsonQuote(list[j].asString()) + ": " + why);
            ok = false;
          } else {
            r.values.push_back(list[j].asString());
          }
        }
      }
      if (ok) {
        std::sort(r.values.begin(), r.values.end());
        r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
        requirements.push_back(std::move(r));
      }
    }
  }
  if (!causes.empty()) {
    return Status::invalid(std::move(causes));
  }
  sortByKey(requirements);
  return LabelSelector(std::move(requirements));
}

// ------------------------------------------------------------------------------------------------

bool FieldSelector::Requirement::matches(const Value& obj) const {
  const Value* found = obj.path(field);
  std::optional<std::string> have;
  if (!found || found->isNull()) {
    have = "";
  } else if (found->isString()) {
    have = found->asString();
  } else if (found->isBool() || found->isNumber()) {
    have = toJson(*found);
  }
  bool equal = have && *have == value;
  return op == Operator::NotEquals ? !equal : equal;
}

std::string FieldSelector::Requirement::str() const {
  return field + fieldOperatorText(op) + escapeFieldValue(value);
}

Result<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector selector;
  auto fail = [&](size_t pos, std::string_view term, const std::string& what) {
    return Status(Code::BadRequest, "invalid field selector " + jsonQuote(text) + ": term " +
                                        jsonQuote(term) + " at position " + std::to_string(pos) +
                                        ": " + what);
  };
  size_t start = 0;
  while (start <= text.size()) {
    // The term runs to the next ',' that is not escaped.
    size_t end = start;
    while (end < text.size() && text[end] != ',') {
      end += text[end] == '\\' ? 2 : 1;
    }
    end = std::min(end, text.size());
    std::string_view term = text.substr(start, end - start);
    size_t termPos = start;
    start = end + 1;
    if (trim(term).empty()) {
      continue;
    }
    // The first operator, scanning left to right, outside escapes.
    size_t opPos = std::string_view::npos;
    Operator op = Operator::Equals;
    size_t opLen = 0;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term.substr(i, 2) == "!=") {
        op = Operator::NotEquals;
        opLen = 2;
      } else if (term.substr(i, 2) == "==") {
        op = Operator::DoubleEquals;
        opLen = 2;
      } else if (term[i] == '=') {
        op = Operator::Equals;
        opLen = 1;
      } else {
        continue;
      }
      opPos = i;
      break;
    }
    if (opPos == std::string_view::npos) {
      return fail(termPos, term, "expected <field>=<value>, <field>==<value> or <field>!=<value>");
    }
    Requirement r;
    r.op = op;
    r.field = trim(term.substr(0, opPos));
    if (r.field.empty()) {
      return fail(termPos, term, "the field name is empty");
    }
    if (std::any_of(r.field.begin(), r.field.end(),
                    [](char c) { return isBlank(c) || c == '\\' || c == '!'; })) {
      return fail(termPos, term, "invalid field name " + jsonQuote(r.field));
    }
    std::string raw = trim(term.substr(opPos + opLen));
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\') {
        char escaped = i + 1 < raw.size() ? raw[i + 1] : '\0';
        if (escaped != '\\' && escaped != ',' && escaped != '=') {
          return fail(termPos, term,
                      "invalid escape sequence in value (only \\\\, \\, and \\= "
                      "are allowed)");
        }
        r.value += escaped;
        ++i;
      } else if (c == '=') {
        return fail(termPos, term, "unescaped '=' in value (write \\=)");
      } else {
        r.value += c;
      }
    }
    selector.requirements_.push_back(std::move(r));
  }
  return selector;
}

bool FieldSelector::matches(const Value& obj) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return r.matches(obj); });
}

std::vector<std::string> FieldSelector::fields() const {
  std::vector<std::string> out;
  for (const Requirement& r : requirements_) {
    if (std::find(out.begin(), out.end(), r.field) == out.end()) {
      out.push_back(r.field);
    }
  }
  return out;
}

std::string FieldSelector::str() const {
  std::vector<std::string> parts;
  for (const Requirement& r : requirements_) {
    parts.push_back(r.str());
  }
  return join(parts, ",");
}

} // namespace caracal::apiserver
