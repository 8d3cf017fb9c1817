#include "apiserver/patch.h"

#include "common/strings.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace caracal::apiserver {

namespace {

Status badRequest(std::string message) { return Status(Code::BadRequest, std::move(message)); }

// Short printable form of a scalar, for error messages and list-item paths.
std::string scalarText(const Value& v) {
  if (v.isString()) {
    return v.asString();
  }
  return toJson(v);
}

// ------------------------------------------------------------------------------------------------
// RFC 7386 merge patch

Value mergePatchValue(const Value& target, const Value& patch) {
  if (!patch.isObject()) {
    return patch;
  }
  Value result = target.isObject() ? target : Value::object();
  for (const auto& [key, value] : patch.asObject()) {
    if (value.isNull()) {
      result.erase(key);
      continue;
    }
    Value& slot = result[key];
    Value merged = mergePatchValue(slot, value);
    slot = std::move(merged);
  }
  return result;
}

// ------------------------------------------------------------------------------------------------
// RFC 6902 JSON patch

using Pointer = std::vector<std::string>;

std::string pointerText(const Pointer& tokens, size_t count) {
  std::string out;
  for (size_t i = 0; i < count && i < tokens.size(); ++i) {
    out += '/';
    for (char c : tokens[i]) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return out;
}

// Parses an array index token. `allowEnd` accepts "-" and an index equal to the size (insertion).
Result<size_t> arrayIndex(const std::string& token, size_t size, bool allowEnd) {
  if (token == "-") {
    if (allowEnd) {
      return size;
    }
    return badRequest("\"-\" (the end of the array) names no existing element");
  }
  if (token.empty() || token.size() > 18 ||
      !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (token.size() > 1 && token[0] == '0')) {
    return badRequest(jsonQuote(token) + " is not an array index");
  }
  size_t index = 0;
  std::from_chars(token.data(), token.data() + token.size(), index);
  if (index > size || (index == size && !allowEnd)) {
    return badRequest("index " + token + " is out of range (the array has " + std::to_string(size) +
                      " elements)");
  }
  return index;
}

// The value at `tokens[0, count)`, which must exist.
Result<Value*> resolvePointer(Value& doc, const Pointer& tokens, size_t count) {
  Value* cur = &doc;
  for (size_t i = 0; i < count; ++i) {
    const std::string& token = tokens[i];
    if (cur->isObject()) {
      Value* next = cur->find(token);
      if (!next) {
        return badRequest("no member " + jsonQuote(token) + " at " +
                          jsonQuote(pointerText(tokens, i)));
      }
      cur = next;
    } else if (cur->isArray()) {
      auto index = arrayIndex(token, cur->size(), false);
      if (!index) {
        return badRequest(index.error().message() + " at " + jsonQuote(pointerText(tokens, i)));
      }
      cur = &cur->mutableArray()[*index];
    } else {
      return badRequest("cannot look up " + jsonQuote(token) + " in a " + cur->typeName() + " at " +
                        jsonQuote(pointerText(tokens, i)));
    }
  }
  return cur;
}

Status pointerAdd(Value& doc, const Pointer& path, Value value) {
  if (path.empty()) {
    doc = std::move(value);
    return Status::ok();
  }
  ASSIGN_OR_RETURN(Value * parent, resolvePointer(doc, path, path.size() - 1));
  const std::string& last = path.back();
  if (parent->isObject()) {
    parent->set(last, std::move(value));
    return Status::ok();
  }
  if (parent->isArray()) {
    auto index = arrayIndex(last, parent->size(), true);
    if (!index) {
      return index.error();
    }
    auto& items = parent->mutableArray();
    items.insert(items.begin() + static_cast<std::ptrdiff_t>(*index), std::move(value));
    return Status::ok();
  }
  return badRequest("cannot add a member to a " + std::string(parent->typeName()) + " at " +
                    jsonQuote(pointerText(path, path.size() - 1)));
}

Result<Value> pointerRemove(Value& doc, const Pointer& path) {
  if (path.empty()) {
    return badRequest("cannot remove the whole document");
  }
  ASSIGN_OR_RETURN(Value * parent, resolvePointer(doc, path, path.size() - 1));
  const std::string& last = path.back();
  if (parent->isObject()) {
    Value* member = parent->find(last);
    if (!member) {
      return badRequest("no member " + jsonQuote(last) + " at " +
                        jsonQuote(pointerText(path, path.size() - 1)));
    }
    Value removed = std::move(*member);
    parent->erase(last);
    return removed;
  }
  if (parent->isArray()) {
    auto index = arrayIndex(last, parent->size(), false);
    if (!index) {
      return index.error();
    }
    auto& items = parent->mutableArray();
    Value removed = std::move(items[*index]);
    items.erase(items.begin() + static_cast<std::ptrdiff_t>(*index));
    return removed;
  }
  return badRequest("cannot remove from a " + std::string(parent->typeName()) + " at " +
                    jsonQuote(pointerText(path, path.size() - 1)));
}

bool isProperPrefix(const Pointer& prefix, const Pointer& path) {
  return prefix.size() < path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

Status applyOperation(Value& doc, const Value& op, std::string& opName, std::string& pathText) {
  if (!op.isObject()) {
    return badRequest(std::string("must be an object, not a ") + op.typeName());
  }
  const Value* opValue = op.find("op");
  if (!opValue || !opValue->isString()) {
    return badRequest("missing string member \"op\"");
  }
  opName = opValue->asString();
  const Value* pathValue = op.find("path");
  if (!pathValue || !pathValue->isString()) {
    return badRequest("missing string member \"path\"");
  }
  pathText = pathValue->asString();
  ASSIGN_OR_RETURN(Pointer path, parseJsonPointer(pathText));

  auto requireValue = [&]() -> Result<const Value*> {
    const Value* v = op.find("value");
    if (!v) {
      return badRequest("missing member \"value\"");
    }
    return v;
  };
  auto requireFrom = [&]() -> Result<Pointer> {
    const Value* from = op.find("from");
    if (!from || !from->isString()) {
      return badRequest("missing string member \"from\"");
    }
    auto parsed = parseJsonPointer(from->asString());
    if (!parsed) {
      return badRequest("from: " + parsed.error().message());
    }
    return parsed;
  };

  if (opName == "add") {
    ASSIGN_OR_RETURN(const Value* value, requireValue());
    return pointerAdd(doc, path, *value);
  }
  if (opName == "remove") {
    auto removed = pointerRemove(doc, path);
    return removed.status();
  }
  if (opName == "replace") {
    ASSIGN_OR_RETURN(const Value* value, requireValue());
    ASSIGN_OR_RETURN(Value * target, resolvePointer(doc, path, path.size()));
    *target = *value;
    return Status::ok();
  }
  if (opName == "move") {
    ASSIGN_OR_RETURN(Pointer from, requireFrom());
    if (isProperPrefix(from, path)) {
      return badRequest("cannot move " + jsonQuote(pointerText(from, from.size())) +
                        " into one of its own children");
    }
    ASSIGN_OR_RETURN(Value * source, resolvePointer(doc, from, from.size()));
    if (from == path) {
      (void)source;
      return Status::ok();
    }
    ASSIGN_OR_RETURN(Value moved, pointerRemove(doc, from));
    return pointerAdd(doc, path, std::move(moved));
  }
  if (opName == "copy") {
    ASSIGN_OR_RETURN(Pointer from, requireFrom());
    ASSIGN_OR_RETURN(Value * source, resolvePointer(doc, from, from.size()));
    Value copied = *source;
    return pointerAdd(doc, path, std::move(copied));
  }
  if (opName == "test") {
    ASSIGN_OR_RETURN(const Value* value, requireValue());
    ASSIGN_OR_RETURN(Value * target, resolvePointer(doc, path, path.size()));
    if (*target != *value) {
      return Status(Code::Invalid,
                    "test failed: the value is " + toJson(*target) + ", not " + toJson(*value));
    }
    return Status::ok();
  }
  return badRequest("unknown operation " + jsonQuote(opName) +
                    " (expected add, remove, replace, move, copy or test)");
}

// ------------------------------------------------------------------------------------------------
// Strategic merge patch

constexpr std::string_view kPatchDirective = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";
constexpr std::string_view kSetElementOrder = "$setElementOrder/";

bool isDirectiveKey(std::string_view key) {
  return key == kPatchDirective || key == kRetainKeys ||
         startsWith(key, kDeleteFromPrimitiveList) || startsWith(key, kSetElementOrder);
}

// How a list field merges. The schema path names object fields, with "[]" for "an item of a list".
struct MergeRule {
  std::vector<std::string_view> suffix;
  bool anchored;        // the path must equal `suffix`, not just end with it
  std::string_view key; // "" for a merged list of scalars
};

const std::vector<MergeRule>& mergeRules() {
  static const std::vector<MergeRule> rules = {
      {{"containers"}, false, "name"},
      {{"initContainers"}, false, "name"},
      {{"ephemeralContainers"}, false, "name"},
      {{"containers", "[]", "ports"}, false, "containerPort"},
      {{"initContainers", "[]", "ports"}, false, "containerPort"},
      {{"ephemeralContainers", "[]", "ports"}, false, "containerPort"},
      {{"volumeMounts"}, false, "mountPath"},
      {{"volumeDevices"}, false, "devicePath"},
      {{"env"}, false, "name"},
      {{"volumes"}, false, "name"},
      {{"imagePullSecrets"}, false, "name"},
      {{"conditions"}, false, "type"},
      {{"status", "addresses"}, true, "type"},
      {{"metadata", "ownerReferences"}, false, "uid"},
      {{"metadata", "finalizers"}, false, ""},
  };
  return rules;
}

// The merge key of the list at `schema`, "" for a merged scalar list, nullopt when it is replaced.
std::optional<std::string> listMergeKey(const std::vector<std::string>& schema) {
  for (const MergeRule& rule : mergeRules()) {
    if (rule.suffix.size() > schema.size() ||
        (rule.anchored && rule.suffix.size() != schema.size())) {
      continue;
    }
    size_t offset = schema.size() - rule.suffix.size();
    bool match = true;
    for (size_t i = 0; i < rule.suffix.size(); ++i) {
      if (schema[offset + i] != rule.suffix[i]) {
        match = false;
        break;
      }
    }
    if (match) {
      return std::string(rule.key);
    }
  }
  return std::nullopt;
}

std::string joinWhere(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

class StrategicMerger {
public:
  // Merges the patch map into `original` (nullptr: no original map). nullopt means the map is
  // deleted by `"$patch": "delete"`.
  Result<std::optional<Value>> mergeMap(const Value* original, const Value& patch,
                                        const std::string& where) {
    if (const Value* directive = patch.find(kPatchDirective)) {
      if (!directive->isString()) {
        return badRequest("strategic merge patch: \"$patch\" at " + whereText(where) +
                          " must be a string");
      }
      const std::string& d = directive->asString();
      if (d == "delete") {
        return std::optional<Value>();
      }
      if (d == "replace") {
        Value rest = patch;
        rest.erase(kPatchDirective);
        return mergeMap(nullptr, rest, where);
      }
      if (d != "merge") {
        return badRequest("strategic merge patch: unknown \"$patch\" value " + jsonQuote(d) +
                          " at " + whereText(where) + " (expected replace, merge or delete)");
      }
    }
    Value result = original && original->isObject() ? *original : Value::object();

    if (const Value* retain = patch.find(kRetainKeys)) {
      RETURN_IF_ERROR(applyRetainKeys(result, *retain, patch, where));
    }
    for (const auto& [key, value] : patch.asObject()) {
      if (!startsWith(key, kDeleteFromPrimitiveList)) {
        continue;
      }
      std::string field = key.substr(kDeleteFromPrimitiveList.size());
      if (!value.isArray()) {
        return badRequest("strategic merge patch: " + jsonQuote(key) + " at " + whereText(where) +
                          " must be a list");
      }
      if (Value* list = result.find(field); list && list->isArray()) {
        auto& items = list->mutableArray();
        items.erase(std::remove_if(items.begin(), items.end(),
                                   [&](const Value& item) {
                                     const auto& doomed = value.asArray();
                                     return std::find(doomed.begin(), doomed.end(), item) !=
                                            doomed.end();
                                   }),
                    items.end());
      }
    }

    for (const auto& [key, value] : patch.asObject()) {
      if (isDirectiveKey(key)) {
        continue;
      }
      if (value.isNull()) {
        result.erase(key);
        continue;
      }
      schema_.push_back(key);
      std::string childWhere = joinWhere(where, key);
      const Value* current = result.find(key);
      if (value.isObject()) {
        auto merged =
            mergeMap(current && current->isObject() ? current : nullptr, value, childWhere);
        if (!merged) {
          return merged.error();
        }
        if (merged->has_value()) {
          result.set(key, std::move(**merged));
        } else {
          result.erase(key);
        }
      } else if (value.isArray()) {
        auto merged =
            mergeList(current && current->isArray() ? current : nullptr, value, childWhere);
        if (!merged) {
          return merged.error();
        }
        result.set(key, std::move(*merged));
      } else {
        result.set(key, value);
      }
      schema_.pop_back();
    }

    for (const auto& [key, value] : patch.asObject()) {
      if (!startsWith(key, kSetElementOrder)) {
        continue;
      }
      std::string field = key.substr(kSetElementOrder.size());
      if (!value.isArray()) {
        return badRequest("strategic merge patch: " + jsonQuote(key) + " at " + whereText(where) +
                          " must be a list");
      }
      if (Value* list = result.find(field); list && list->isArray()) {
        schema_.push_back(field);
        std::optional<std::string> mergeKey = listMergeKey(schema_);
        schema_.pop_back();
        if (mergeKey) {
          reorder(list->mutableArray(), value.asArray(), *mergeKey);
        }
      }
    }
    return std::optional<Value>(std::move(result));
  }

  // Merges the patch list into `original` (nullptr: no original list) per the list's strategy.
  Result<Value> mergeList(const Value* original, const Value& patch, const std::string& where) {
    std::optional<std::string> key = listMergeKey(schema_);
    bool replaceMarker = false;
    for (const Value& item : patch.asArray()) {
      if (isReplaceMarker(item)) {
        replaceMarker = true;
      }
    }
    schema_.push_back("[]");
    Value result = Value::array();
    Status status;
    if (!key || replaceMarker) {
      // The list is replaced whole; its items still go through the merger so that nested
      // directives are honoured and stripped.
      for (size_t i = 0; i < patch.size() && status.isOk(); ++i) {
        const Value& item = patch.asArray()[i];
        if (isReplaceMarker(item)) {
          continue;
        }
        auto built = materialize(item, where + "[" + std::to_string(i) + "]");
        if (!built) {
          status = built.error();
        } else if (built->has_value()) {
          result.push(std::move(**built));
        }
      }
    } else if (key->empty()) {
      // A merged list of scalars: a union that keeps the original order.
      if (original) {
        result = *original;
      }
      for (size_t i = 0; i < patch.size() && status.isOk(); ++i) {
        const Value& item = patch.asArray()[i];
        if (item.isObject() || item.isArray()) {
          status = badRequest("strategic merge patch: item " + std::to_string(i) + " of " +
                              whereText(where) + " must be a scalar, not a " + item.typeName());
        } else if (std::find(result.asArray().begin(), result.asArray().end(), item) ==
                   result.asArray().end()) {
          result.push(item);
        }
      }
    } else {
      if (original) {
        result = *original;
      }
      for (size_t i = 0; i < patch.size() && status.isOk(); ++i) {
        status = mergeKeyedItem(result.mutableArray(), patch.asArray()[i], *key, where, i);
      }
    }
    schema_.pop_back();
    if (!status.isOk()) {
      return status;
    }
    return result;
  }

private:
  static std::string whereText(const std::string& where) {
    return where.empty() ? std::string("the top level") : jsonQuote(where);
  }

  static bool isReplaceMarker(const Value& item) {
    const Value* d = item.find(kPatchDirective);
    return d && item.size() == 1 && d->isString() && d->asString() == "replace";
  }

  // A patch value with no original to merge into; nullopt when it deletes itself.
  Result<std::optional<Value>> materialize(const Value& item, const std::string& where) {
    if (item.isObject()) {
      return mergeMap(nullptr, item, where);
    }
    if (item.isArray()) {
      ASSIGN_OR_RETURN(Value list, mergeList(nullptr, item, where));
      return std::optional<Value>(std::move(list));
    }
    return std::optional<Value>(item);
  }

  Status mergeKeyedItem(Value::Array& items, const Value& item, const std::string& key,
                        const std::string& where, size_t index) {
    std::string itemWhere = where + "[" + std::to_string(index) + "]";
    if (!item.isObject()) {
      return badRequest("strategic merge patch: item " + jsonQuote(itemWhere) +
                        " must be an object with merge key " + jsonQuote(key) + ", not a " +
                        item.typeName());
    }
    const Value* keyValue = item.find(key);
    if (!keyValue) {
      return badRequest("strategic merge patch: item " + jsonQuote(itemWhere) +
                        " has no merge key " + jsonQuote(key));
    }
    itemWhere = where + "[" + key + "=" + scalarText(*keyValue) + "]";
    auto sameKey = [&](const Value& candidate) {
      const Value* k = candidate.find(key);
      return k && *k == *keyValue;
    };
    const Value* directive = item.find(kPatchDirective);
    if (directive && directive->isString() && directive->asString() == "delete") {
      items.erase(std::remove_if(items.begin(), items.end(), sameKey), items.end());
      return Status::ok();
    }
    auto found = std::find_if(items.begin(), items.end(), sameKey);
    auto merged = mergeMap(found == items.end() ? nullptr : &*found, item, itemWhere);
    if (!merged) {
      return merged.error();
    }
    if (found == items.end()) {
      items.push_back(std::move(**merged));
    } else {
      *found = std::move(**merged);
    }
    return Status::ok();
  }

  Status applyRetainKeys(Value& result, const Value& retain, const Value& patch,
                         const std::string& where) {
    if (!retain.isArray()) {
      return badRequest("strategic merge patch: \"$retainKeys\" at " + whereText(where) +
                        " must be a list of strings");
    }
    std::set<std::string, std::less<>> keep;
    for (const Value& k : retain.asArray()) {
      if (!k.isString()) {
        return badRequest("strategic merge patch: \"$retainKeys\" at " + whereText(where) +
                          " must be a list of strings");
      }
      keep.insert(k.asString());
    }
    for (const auto& [key, value] : patch.asObject()) {
      if (!isDirectiveKey(key) && !value.isNull() && !keep.count(key)) {
        return badRequest("strategic merge patch: field " + jsonQuote(joinWhere(where, key)) +
                          " is not listed in \"$retainKeys\"");
      }
    }
    auto& members = result.mutableObject();
    members.erase(std::remove_if(members.begin(), members.end(),
                                 [&](const Value::Member& m) { return !keep.count(m.first); }),
                  members.end());
    return Status::ok();
  }

  // Gives the items named in `order` that order among themselves; the other items keep their
  // positions.
  static void reorder(Value::Array& items, const Value::Array& order, const std::string& key) {
    auto rank = [&](const Value& item) -> std::optional<size_t> {
      for (size_t i = 0; i < order.size(); ++i) {
        if (key.empty()) {
          if (order[i] == item) {
            return i;
          }
        } else {
          const Value* a = order[i].find(key);
          const Value* b = item.find(key);
          if (a && b && *a == *b) {
            return i;
          }
        }
      }
      return std::nullopt;
    };
    std::vector<size_t> positions;
    std::vector<std::pair<size_t, Value>> ranked;
    for (size_t i = 0; i < items.size(); ++i) {
      if (auto r = rank(items[i])) {
        positions.push_back(i);
        ranked.emplace_back(*r, items[i]);
      }
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < positions.size(); ++i) {
      items[positions[i]] = std::move(ranked[i].second);
    }
  }

  std::vector<std::string> schema_;
};

// ------------------------------------------------------------------------------------------------
// Field ownership (server-side apply)

using FieldPath = std::vector<std::string>;
using FieldSet = std::set<FieldPath>;

constexpr std::string_view kBeforeFirstApply = "before-first-apply";

bool isUnownedPath(const FieldPath& p) {
  static const std::set<std::string, std::less<>> serverMetadata = {"name",
                                                                    "namespace",
                                                                    "uid",
                                                                    "resourceVersion",
                                                                    "creationTimestamp",
                                                                    "generation",
                                                                    "managedFields",
                                                                    "deletionTimestamp",
                                                                    "deletionGracePeriodSeconds",
                                                                    "selfLink"};
  if (p.size() == 1) {
    return p[0] == "apiVersion" || p[0] == "kind";
  }
  return p.size() >= 2 && p[0] == "metadata" && serverMetadata.count(p[1]) > 0;
}

bool isPrefixOf(const FieldPath& prefix, const FieldPath& path) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

const Value* valueAt(const Value& root, const FieldPath& p) {
  const Value* cur = &root;
  for (const std::string& segment : p) {
    cur = cur->find(segment);
    if (!cur) {
      return nullptr;
    }
  }
  return cur;
}

Value* mutableValueAt(Value& root, const FieldPath& p) {
  Value* cur = &root;
  for (const std::string& segment : p) {
    cur = cur->find(segment);
    if (!cur) {
      return nullptr;
    }
  }
  return cur;
}

// The owned paths of `p`'s set that overlap `p` (equal, ancestors or descendants).
std::vector<FieldPath> overlapping(const FieldSet& set, const FieldPath& p) {
  std::vector<FieldPath> out;
  FieldPath prefix;
  for (size_t i = 0; i + 1 < p.size(); ++i) {
    prefix.push_back(p[i]);
    if (set.count(prefix)) {
      out.push_back(prefix);
    }
  }
  for (auto it = set.lower_bound(p); it != set.end() && isPrefixOf(p, *it); ++it) {
    out.push_back(*it);
  }
  return out;
}

bool overlapsAny(const FieldSet& set, const FieldPath& p) { return !overlapping(set, p).empty(); }

// True when `set` holds `p` or a field inside it. Owning a map itself ("." in FieldsV1) does not
// extend to the map's members.
bool ownsAtOrBelow(const FieldSet& set, const FieldPath& p) {
  auto it = set.lower_bound(p);
  return it != set.end() && isPrefixOf(p, *it);
}

// The leaf fields of an object: scalars, lists and empty maps, reached through non-empty maps.
void collectLeaves(const Value& v, FieldPath& prefix, FieldSet& out, bool skipNulls) {
  for (const auto& [key, child] : v.asObject()) {
    prefix.push_back(key);
    if (isUnownedPath(prefix) || (skipNulls && child.isNull())) {
      prefix.pop_back();
      continue;
    }
    if (child.isObject() && child.size() > 0) {
      // A map is owned through its members (a map left with none owns nothing).
      collectLeaves(child, prefix, out, skipNulls);
    } else {
      out.insert(prefix);
    }
    prefix.pop_back();
  }
}

FieldSet leavesOf(const Value& v, bool skipNulls) {
  FieldSet out;
  FieldPath prefix;
  if (v.isObject()) {
    collectLeaves(v, prefix, out, skipNulls);
  }
  return out;
}

void decodeFieldsV1(const Value& node, FieldPath& prefix, FieldSet& out) {
  for (const auto& [key, child] : node.asObject()) {
    if (key == ".") {
      if (!prefix.empty()) {
        out.insert(prefix);
      }
    } else if (startsWith(key, "f:")) {
      prefix.push_back(key.substr(2));
      if (child.isObject() && child.size() > 0) {
        decodeFieldsV1(child, prefix, out);
      } else {
        out.insert(prefix);
      }
      prefix.pop_back();
    } else if (startsWith(key, "k:") || startsWith(key, "v:") || startsWith(key, "i:")) {
      // Ownership of list items: lists are atomic here, so it means the whole list.
      if (!prefix.empty()) {
        out.insert(prefix);
      }
    }
  }
}

Value encodeLevel(const std::vector<const FieldPath*>& paths, size_t depth) {
  Value node = Value::object();
  bool member = false;
  std::map<std::string, std::vector<const FieldPath*>> children;
  for (const FieldPath* p : paths) {
    if (p->size() == depth) {
      member = true;
    } else {
      children[(*p)[depth]].push_back(p);
    }
  }
  if (member && depth > 0 && !children.empty()) {
    node.set(".", Value::object());
  }
  for (const auto& [name, group] : children) {
    node.set("f:" + name, encodeLevel(group, depth + 1));
  }
  return node;
}

Value encodeFieldsV1(const FieldSet& set) {
  std::vector<const FieldPath*> paths;
  for (const FieldPath& p : set) {
    paths.push_back(&p);
  }
  return encodeLevel(paths, 0);
}

struct ManagedEntry {
  Value raw = Value::object();
  std::string manager;
  std::string operation;
  std::string apiVersion;
  std::string subresource;
  FieldSet fields;
  bool fieldsChanged = false;
  bool touched = false; // manager/operation/apiVersion/time need writing
};

std::vector<ManagedEntry> parseManagedFields(const Value& obj) {
  std::vector<ManagedEntry> entries;
  const Value* list = obj.path("metadata.managedFields");
  if (!list) {
    return entries;
  }
  for (const Value& raw : list->asArray()) {
    if (!raw.isObject()) {
      continue;
    }
    ManagedEntry e;
    e.raw = raw;
    e.manager = raw.getString("manager");
    e.operation = raw.getString("operation");
    e.apiVersion = raw.getString("apiVersion");
    e.subresource = raw.getString("subresource");
    if (const Value* fields = raw.find("fieldsV1")) {
      FieldPath prefix;
      decodeFieldsV1(*fields, prefix, e.fields);
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

ManagedEntry newEntry(const std::string& manager, const std::string& operation) {
  ManagedEntry e;
  e.manager = manager;
  e.operation = operation;
  e.touched = true;
  e.fieldsChanged = true;
  return e;
}

// Drops owned paths that no longer exist in `obj` and entries left without fields, then writes
// the entries back to obj.metadata.managedFields.
void storeManagedFields(Value& obj, std::vector<ManagedEntry>& entries, const std::string& now) {
  for (ManagedEntry& e : entries) {
    for (auto it = e.fields.begin(); it != e.fields.end();) {
      if (!valueAt(obj, *it)) {
        it = e.fields.erase(it);
        e.fieldsChanged = true;
      } else {
        ++it;
      }
    }
  }
  Value list = Value::array();
  for (ManagedEntry& e : entries) {
    if (e.fields.empty()) {
      continue;
    }
    Value raw = std::move(e.raw);
    if (e.touched) {
      raw.set("manager", e.manager);
      raw.set("operation", e.operation);
      raw.set("apiVersion", e.apiVersion);
      raw.set("time", now);
    }
    if (e.fieldsChanged || e.touched) {
      raw.set("fieldsType", "FieldsV1");
      raw.set("fieldsV1", encodeFieldsV1(e.fields));
    }
    list.push(std::move(raw));
  }
  Value* metadata = obj.find("metadata");
  if (list.size() == 0) {
    if (metadata) {
      metadata->erase("managedFields");
    }
    return;
  }
  obj["metadata"].set("managedFields", std::move(list));
}

// "kubectl" for an Apply manager, "kubectl-edit" using v1 for an Update manager (Kubernetes'
// wording).
std::string managerLabel(const ManagedEntry& e) {
  std::string label = jsonQuote(e.manager);
  if (!e.subresource.empty()) {
    label += " with subresource " + jsonQuote(e.subresource);
  }
  if (e.operation == "Update") {
    label += " using " + e.apiVersion;
  }
  return label;
}

std::string printPath(const FieldPath& p) {
  std::string out;
  for (const std::string& segment : p) {
    out += '.';
    out += segment;
  }
  return out;
}

Status conflictError(const std::vector<std::pair<std::string, FieldPath>>& conflicts) {
  std::string message;
  if (conflicts.size() == 1) {
    message = "Apply failed with 1 conflict: conflict with " + conflicts[0].first + ": " +
              printPath(conflicts[0].second);
  } else {
    std::map<std::string, std::vector<std::string>> byManager;
    for (const auto& [label, path] : conflicts) {
      byManager[label].push_back(printPath(path));
    }
    std::vector<std::string> lines;
    for (const auto& [label, paths] : byManager) {
      lines.push_back("conflicts with " + label + ":");
      for (const std::string& p : paths) {
        lines.push_back("- " + p);
      }
    }
    message = "Apply failed with " + std::to_string(conflicts.size()) +
              " conflicts: " + join(lines, "\n");
  }
  Status status(Code::Conflict, message);
  for (const auto& [label, path] : conflicts) {
    status.mutableCauses().push_back(
        FieldCause{printPath(path), "conflict with " + label, "FieldManagerConflict"});
  }
  return status;
}

// Merges the applied configuration into `dst`: maps key by key, everything else replaced.
void mergeApplied(Value& dst, const Value& src, FieldPath& prefix) {
  for (const auto& [key, value] : src.asObject()) {
    if (value.isNull()) {
      continue;
    }
    prefix.push_back(key);
    if (isUnownedPath(prefix)) {
      bool identity =
          prefix.size() == 1 || (prefix.size() == 2 && (key == "name" || key == "namespace"));
      if (identity && (prefix.size() == 1 || !dst.has(key))) {
        dst.set(key, value);
      }
    } else if (value.isObject() && value.size() > 0) {
      Value& slot = dst[key];
      if (!slot.isObject()) {
        slot = Value::object();
      }
      mergeApplied(slot, value, prefix);
    } else {
      dst.set(key, value);
    }
    prefix.pop_back();
  }
}

bool ownedByAnyone(const std::vector<ManagedEntry>& entries, const FieldSet& applied,
                   const FieldPath& p) {
  if (applied.count(p)) {
    return true;
  }
  return std::any_of(entries.begin(), entries.end(),
                     [&](const ManagedEntry& e) { return e.fields.count(p) > 0; });
}

// Removes the field at `p`, then the maps that the removal left empty and nobody owns.
void removeField(Value& root, const FieldPath& p, const std::vector<ManagedEntry>& entries,
                 const FieldSet& applied) {
  for (size_t depth = p.size(); depth > 0; --depth) {
    FieldPath parentPath(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(depth - 1));
    Value* parent = mutableValueAt(root, parentPath);
    if (!parent) {
      return;
    }
    if (depth < p.size()) {
      const Value* child = parent->find(p[depth - 1]);
      FieldPath childPath(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(depth));
      if (!child || !child->isObject() || child->size() > 0 ||
          ownedByAnyone(entries, applied, childPath)) {
        return;
      }
    }
    parent->erase(p[depth - 1]);
  }
}

} // namespace

// ------------------------------------------------------------------------------------------------

Result<Value> applyMergePatch(const Value& target, const Value& patch) {
  if (!patch.isObject()) {
    return badRequest(std::string("merge patch must be a JSON object, not a ") + patch.typeName());
  }
  return mergePatchValue(target, patch);
}

Result<std::vector<std::string>> parseJsonPointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) {
    return tokens;
  }
  if (pointer[0] != '/') {
    return badRequest("JSON pointer " + jsonQuote(pointer) + " must be empty or start with '/'");
  }
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    char c = pointer[i];
    if (c == '~') {
      char next = i + 1 < pointer.size() ? pointer[i + 1] : '\0';
      if (next != '0' && next != '1') {
        return badRequest("JSON pointer " + jsonQuote(pointer) +
                          " has an invalid escape at offset " + std::to_string(i) +
                          " ('~' must be followed by '0' or '1')");
      }
      token += next == '0' ? '~' : '/';
      ++i;
    } else {
      token += c;
    }
  }
  return tokens;
}

Result<Value> applyJsonPatch(const Value& target, const Value& patch) {
  if (!patch.isArray()) {
    return badRequest(std::string("json patch must be a JSON array of operations, not a ") +
                      patch.typeName());
  }
  Value doc = target;
  const auto& ops = patch.asArray();
  for (size_t i = 0; i < ops.size(); ++i) {
    std::string opName;
    std::string pathText;
    Status status = applyOperation(doc, ops[i], opName, pathText);
    if (!status.isOk()) {
      std::string context = "json patch operation " + std::to_string(i);
      if (!opName.empty()) {
        context += " (" + opName + ")";
      }
      if (!opName.empty() || !pathText.empty()) {
        context += " path " + jsonQuote(pathText);
      }
      return status.withContext(context);
    }
  }
  return doc;
}

Result<Value> applyStrategicMergePatch(const Value& target, const Value& patch) {
  if (!patch.isObject()) {
    return badRequest(std::string("strategic merge patch must be a JSON object, not a ") +
                      patch.typeName());
  }
  StrategicMerger merger;
  ASSIGN_OR_RETURN(std::optional<Value> merged,
                   merger.mergeMap(target.isObject() ? &target : nullptr, patch, ""));
  if (!merged) {
    return Value::object();
  }
  return std::move(*merged);
}

Result<Value> applyServerSide(const Value& live, const Value& applied, const std::string& manager,
                              bool force, const std::string& apiVersion, const std::string& now) {
  if (!applied.isObject()) {
    return badRequest(std::string("apply configuration must be an object, not a ") +
                      applied.typeName());
  }
  if (!live.isNull() && !live.isObject()) {
    return badRequest(std::string("live object must be an object, not a ") + live.typeName());
  }
  if (manager.empty()) {
    return badRequest("fieldManager is required for apply requests");
  }

  std::vector<ManagedEntry> entries = parseManagedFields(live);
  if (live.isObject() && entries.empty()) {
    FieldSet existing = leavesOf(live, false);
    if (!existing.empty()) {
      ManagedEntry before = newEntry(std::string(kBeforeFirstApply), "Update");
      before.apiVersion = live.getString("apiVersion", apiVersion);
      before.fields = std::move(existing);
      entries.push_back(std::move(before));
    }
  }
  const FieldSet appliedSet = leavesOf(applied, true);
  size_t self = entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].manager == manager && entries[i].operation == "Apply" &&
        entries[i].subresource.empty()) {
      self = i;
      break;
    }
  }

  // Conflicts: another manager owns a field whose value this apply changes.
  std::set<std::pair<size_t, FieldPath>> conflicting;
  for (const FieldPath& p : appliedSet) {
    const Value* want = valueAt(applied, p);
    const Value* have = valueAt(live, p);
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].manager == manager) {
        continue;
      }
      for (const FieldPath& q : overlapping(entries[i].fields, p)) {
        bool conflict = false;
        if (q.size() >= p.size()) {
          // The same field, or a field inside the value this apply replaces whole.
          conflict = have && *have != *want;
        } else {
          // A field that this apply would turn into a map.
          const Value* theirs = valueAt(live, q);
          conflict = theirs && !theirs->isObject();
        }
        if (conflict) {
          conflicting.emplace(i, q);
        }
      }
    }
  }
  if (!conflicting.empty()) {
    if (!force) {
      std::vector<std::pair<std::string, FieldPath>> conflicts;
      for (const auto& [i, q] : conflicting) {
        conflicts.emplace_back(managerLabel(entries[i]), q);
      }
      std::stable_sort(conflicts.begin(), conflicts.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      return conflictError(conflicts);
    }
    for (const auto& [i, q] : conflicting) {
      entries[i].fields.erase(q);
      entries[i].fieldsChanged = true;
    }
  }

  Value result = live.isObject() ? live : Value::object();

  // Fields this manager applied before and no longer does go away unless someone else owns them.
  if (self < entries.size()) {
    FieldSet previous = entries[self].fields;
    entries[self].fields.clear();
    for (const FieldPath& p : previous) {
      if (overlapsAny(appliedSet, p)) {
        continue;
      }
      bool sharedWithOther = false;
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i != self && ownsAtOrBelow(entries[i].fields, p)) {
          sharedWithOther = true;
        }
      }
      if (!sharedWithOther) {
        removeField(result, p, entries, appliedSet);
      }
    }
  }

  FieldPath prefix;
  mergeApplied(result, applied, prefix);

  if (self == entries.size()) {
    entries.push_back(newEntry(manager, "Apply"));
  }
  ManagedEntry& mine = entries[self];
  mine.fields = appliedSet;
  mine.apiVersion = apiVersion;
  mine.touched = true;
  storeManagedFields(result, entries, now);
  return result;
}

void recordUpdateOwnership(Value& newObj, const Value& oldObj, const std::string& manager,
                           const std::string& apiVersion, const std::string& now) {
  if (!newObj.isObject()) {
    return;
  }
  const Value* metadata = newObj.find("metadata");
  bool carried = metadata && metadata->has("managedFields");
  std::vector<ManagedEntry> entries = parseManagedFields(carried ? newObj : oldObj);

  FieldSet changed;
  for (const FieldPath& p : leavesOf(newObj, false)) {
    const Value* before = oldObj.isObject() ? valueAt(oldObj, p) : nullptr;
    if (!before || *before != *valueAt(newObj, p)) {
      changed.insert(p);
    }
  }

  size_t self = entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    ManagedEntry& e = entries[i];
    if (e.manager == manager && e.operation == "Update" && e.subresource.empty()) {
      self = i;
      continue;
    }
    for (const FieldPath& p : changed) {
      for (auto it = e.fields.lower_bound(p); it != e.fields.end() && isPrefixOf(p, *it);) {
        it = e.fields.erase(it);
        e.fieldsChanged = true;
      }
    }
  }
  if (!changed.empty()) {
    if (self == entries.size()) {
      entries.push_back(newEntry(manager, "Update"));
    }
    ManagedEntry& mine = entries[self];
    mine.fields.insert(changed.begin(), changed.end());
    mine.apiVersion = apiVersion;
    mine.touched = true;
  }
  storeManagedFields(newObj, entries, now);
}

} // namespace caracal::apiserver
