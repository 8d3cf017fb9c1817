#include "api/registry.h"

#include "api/kinds_internal.h"
#include "common/strings.h"

#include <deque>

namespace caracal::api {

namespace {

using detail::KindDef;

struct Registry {
  std::deque<KindDef> defs; // stable addresses: KindInfo pointers are handed out
  std::vector<const KindInfo*> infos;

  Registry() {
    for (auto& d : detail::coreKinds()) {
      defs.push_back(std::move(d));
    }
    for (auto& d : detail::calicoKinds()) {
      defs.push_back(std::move(d));
    }
    for (const auto& d : defs) {
      infos.push_back(&d.info);
    }
  }
};

const Registry& registry() {
  static const Registry r;
  return r;
}

const KindDef* defFor(const KindInfo& info) {
  for (const auto& d : registry().defs) {
    if (&d.info == &info) {
      return &d;
    }
  }
  for (const auto& d : registry().defs) {
    if (d.info.group == info.group && d.info.version == info.version && d.info.kind == info.kind) {
      return &d;
    }
  }
  return nullptr;
}

bool hasName(const KindInfo& k, std::string_view lower) {
  if (toLower(k.kind) == lower || k.plural == lower || k.singular == lower) {
    return true;
  }
  for (const auto& s : k.shortNames) {
    if (toLower(s) == lower) {
      return true;
    }
  }
  for (const auto& a : k.aliases) {
    if (toLower(a) == lower) {
      return true;
    }
  }
  return false;
}

// "projectcalico.org", a prefix of it ("p", "projectcalico"), or "<version>.<group prefix>".
bool groupMatches(const KindInfo& k, std::string_view part) {
  if (part.empty()) {
    return true;
  }
  if (k.group.empty()) {
    return part == k.version;
  }
  if (startsWith(k.group, part)) {
    return true;
  }
  std::string versioned = k.version + ".";
  return startsWith(part, versioned) && part.size() > versioned.size() &&
         startsWith(k.group, part.substr(versioned.size()));
}

// Fills apiVersion/kind when absent; reports them when they name another kind.
void checkTypeMeta(const KindInfo& info, Value& obj, schema::Ctx& ctx) {
  struct Want {
    const char* field;
    std::string value;
  };
  for (const Want& w : {Want{"apiVersion", info.apiVersion()}, Want{"kind", info.kind}}) {
    const Value* v = obj.find(w.field);
    if (!v || v->isNull() || (v->isString() && v->asString().empty())) {
      obj.set(w.field, w.value);
    } else if (v->isString() && v->asString() != w.value) {
      ctx.add(w.field,
              "must be " + schema::quoted(w.value) + " here, got " + schema::quoted(v->asString()));
    }
  }
}

} // namespace

const std::vector<const KindInfo*>& allKinds() { return registry().infos; }

const KindInfo* findByResource(std::string_view group, std::string_view version,
                               std::string_view plural) {
  for (const auto* k : allKinds()) {
    if (k->group == group && k->version == version && k->plural == plural) {
      return k;
    }
  }
  return nullptr;
}

const KindInfo* findByKind(std::string_view apiVersion, std::string_view kind) {
  for (const auto* k : allKinds()) {
    if (k->kind == kind && k->apiVersion() == apiVersion) {
      return k;
    }
  }
  return nullptr;
}

const KindInfo* findByName(std::string_view name) {
  std::string n = toLower(trim(name));
  if (n.empty()) {
    return nullptr;
  }
  std::string base = n;
  std::string groupPart;
  size_t dot = n.find('.');
  if (dot != std::string::npos) {
    base = n.substr(0, dot);
    groupPart = n.substr(dot + 1);
    if (groupPart.empty()) {
      return nullptr;
    }
  }
  // Calico kinds first: they win where a name is ambiguous, as in calicoctl.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto* k : allKinds()) {
      bool calico = k->group == "projectcalico.org";
      if ((pass == 0) != calico) {
        continue;
      }
      if (hasName(*k, base) && groupMatches(*k, groupPart)) {
        return k;
      }
    }
  }
  return nullptr;
}

bool isUnknownFieldCause(const FieldCause& cause) {
  return cause.reason == schema::kNotSupported && startsWith(cause.message, "unknown field \"");
}

Status normalize(const KindInfo& info, Value& obj, const NormalizeOptions& opts) {
  const KindDef* def = defFor(info);
  if (!def) {
    return Status(Code::BadRequest, "no schema for kind " + info.apiVersion() + "/" + info.kind);
  }
  if (!obj.isObject()) {
    return Status::invalidField("", "an object must be a mapping, got " + schema::describe(obj),
                                schema::kTypeInvalid);
  }
  schema::WalkOptions wo;
  wo.dropUnknown = opts.unknownFields == UnknownFields::Drop;
  wo.applyDefaults = opts.applyDefaults;
  wo.dropped = opts.droppedFields;
  schema::Ctx ctx(wo);
  checkTypeMeta(info, obj, ctx);
  schema::walk(*def->schema, obj, "", ctx);
  if (!ctx.ok()) {
    return Status::invalid(ctx.takeCauses());
  }
  return Status::ok();
}

Status validateUpdate(const KindInfo& info, const Value& oldObj, const Value& newObj) {
  const KindDef* def = defFor(info);
  if (!def) {
    return Status(Code::BadRequest, "no schema for kind " + info.apiVersion() + "/" + info.kind);
  }
  schema::Ctx ctx;
  schema::compareImmutable(*def->schema, oldObj, newObj, "", ctx);
  if (def->update) {
    def->update(oldObj, newObj, ctx);
  }
  if (!ctx.ok()) {
    return Status::invalid(ctx.takeCauses());
  }
  return Status::ok();
}

Status validateAgainst(const KindInfo& info, const Value& obj, const std::vector<Value>& others) {
  const KindDef* def = defFor(info);
  if (!def) {
    return Status(Code::BadRequest, "no schema for kind " + info.apiVersion() + "/" + info.kind);
  }
  if (!def->against) {
    return Status::ok();
  }
  schema::Ctx ctx;
  def->against(obj, others, ctx);
  if (!ctx.ok()) {
    return Status::invalid(ctx.takeCauses());
  }
  return Status::ok();
}

Value openapiSchema(const KindInfo& info) {
  const KindDef* def = defFor(info);
  if (!def) {
    return Value::object();
  }
  Value s = schema::toOpenApi(*def->schema);
  Value gvk = Value::array();
  gvk.push(
      Value(Value::Object{{"group", info.group}, {"version", info.version}, {"kind", info.kind}}));
  s.set("x-kubernetes-group-version-kind", std::move(gvk));
  if (!s.has("description")) {
    s.set("description", info.kind + " (" + info.apiVersion() + ")");
  }
  return s;
}

} // namespace caracal::api
