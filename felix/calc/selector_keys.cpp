#include "felix/calc/selector_keys.h"

#include <algorithm>

namespace caracal::felix::calc {

namespace {

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '/' || c == '-';
}

// A recogniser for the selector grammar that records every label in term position. It does not
// build a tree: only the keys matter, and the text has already been validated by the parser.
class KeyScanner {
public:
  explicit KeyScanner(std::string_view text) : text_(text) {}

  std::optional<std::vector<std::string>> run() {
    skipBlanks();
    if (pos_ == text_.size()) {
      return std::vector<std::string>{}; // the empty selector is all()
    }
    bool expectTerm = true;
    int depth = 0;
    while (true) {
      skipBlanks();
      if (pos_ == text_.size()) {
        break;
      }
      const char c = text_[pos_];
      if (expectTerm) {
        if (c == '!') {
          ++pos_;
        } else if (c == '(') {
          ++pos_;
          ++depth;
        } else if (isLabelChar(c)) {
          if (!term()) {
            return std::nullopt;
          }
          expectTerm = false;
        } else {
          return std::nullopt;
        }
      } else if (c == ')') {
        ++pos_;
        if (--depth < 0) {
          return std::nullopt;
        }
      } else if (text_.substr(pos_, 2) == "&&" || text_.substr(pos_, 2) == "||") {
        pos_ += 2;
        expectTerm = true;
      } else {
        return std::nullopt;
      }
    }
    if (expectTerm || depth != 0) {
      return std::nullopt;
    }
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    return std::move(keys_);
  }

private:
  void skipBlanks() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) {
      ++pos_;
    }
  }

  std::string_view word() {
    const size_t start = pos_;
    while (pos_ < text_.size() && isLabelChar(text_[pos_])) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  bool consume(char c) {
    skipBlanks();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  bool quoted() {
    skipBlanks();
    if (pos_ == text_.size() || (text_[pos_] != '"' && text_[pos_] != '\'')) {
      return false;
    }
    const size_t close = text_.find(text_[pos_], pos_ + 1);
    if (close == std::string_view::npos) {
      return false;
    }
    pos_ = close + 1;
    return true;
  }

  bool set() {
    if (!consume('{')) {
      return false;
    }
    if (consume('}')) {
      return true;
    }
    while (true) {
      if (!quoted()) {
        return false;
      }
      if (consume('}')) {
        return true;
      }
      if (!consume(',')) {
        return false;
      }
      if (consume('}')) { // trailing comma
        return true;
      }
    }
  }

  // A term starting with a word: all(), global(), has(label) or `label <op> <value>`.
  bool term() {
    const std::string_view w = word();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      if (w == "all" || w == "global") {
        return consume(')');
      }
      if (w != "has") {
        return false;
      }
      skipBlanks();
      const std::string_view label = word();
      if (label.empty() || !consume(')')) {
        return false;
      }
      keys_.emplace_back(label);
      return true;
    }
    keys_.emplace_back(w);
    skipBlanks();
    const std::string_view two = text_.substr(pos_, 2);
    if (two == "==" || two == "!=") {
      pos_ += 2;
      return quoted();
    }
    const std::string_view op = word();
    if (op == "in" || op == "notin") {
      return set();
    }
    if (op == "contains" || op == "startswith" || op == "endswith") {
      return quoted();
    }
    if (op == "not" || op == "starts" || op == "ends") {
      skipBlanks();
      const std::string_view second = word();
      if (op == "not") {
        return second == "in" && set();
      }
      return second == "with" && quoted();
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::vector<std::string> keys_;
};

} // namespace

std::optional<std::vector<std::string>> referencedKeys(std::string_view selectorText) {
  return KeyScanner(selectorText).run();
}

std::optional<std::vector<std::string>> referencedKeys(const api::Selector& selector) {
  return referencedKeys(std::string_view(selector.str()));
}

} // namespace caracal::felix::calc
