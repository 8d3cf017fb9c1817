#pragma once
// Which label keys a selector looks at.
//
// A selector's result is a function of the values (and presence) of the label keys it names and of
// nothing else: `app == "web" || !has(env)` reads `app` and `env` only. The label index relies on
// this to re-evaluate, after a label change, only the selectors that name a changed key.
//
// api::Selector keeps its syntax tree private, so the keys are recovered from its canonical string
// (`Selector::str()`), whose grammar is public and fixed (api/selector.h). The recogniser accepts
// exactly the term structure of that grammar; anything it does not recognise yields std::nullopt,
// and callers must then treat the selector as depending on every key (always re-evaluate it).
// A `Selector::labelKeys()` accessor on api::Selector would make this file a one-line forwarder.

#include "api/selector.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace caracal::felix::calc {

// The label keys `selector` depends on, sorted and unique (empty for `all()`), or std::nullopt
// when they cannot be determined.
std::optional<std::vector<std::string>> referencedKeys(const api::Selector& selector);

// The same for selector text in the api/selector.h grammar (used on the canonical form; also
// accepts the looser spellings the parser accepts). Returns std::nullopt for text that does not
// fit the grammar.
std::optional<std::vector<std::string>> referencedKeys(std::string_view selectorText);

} // namespace caracal::felix::calc
