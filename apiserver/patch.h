#pragma once
// Patch formats and field ownership for the Kubernetes-style apiserver.
//
// Pure functions over `caracal::Value`: they never touch storage, clocks or the network, and never
// modify their inputs (except recordUpdateOwnership, which updates the object it is given). Every
// failure is a value:
//   - Code::BadRequest: the patch document itself is malformed (wrong type, unknown operation, bad
//     JSON pointer, a path that does not exist, an unknown directive value). The message names the
//     offending operation index, path or directive.
//   - Code::Invalid: a JSON patch "test" operation failed (the request was well formed, but the
//     document did not hold the expected value).
//   - Code::Conflict: a server-side apply would change fields owned by another manager
//   (force=false).
//
// The four patch flavours correspond to the Content-Types a Kubernetes apiserver accepts on PATCH:
//   application/merge-patch+json           -> applyMergePatch
//   application/json-patch+json            -> applyJsonPatch
//   application/strategic-merge-patch+json -> applyStrategicMergePatch
//   application/apply-patch+yaml           -> applyServerSide

#include "common/result.h"
#include "common/value.h"

#include <string>
#include <string_view>
#include <vector>

namespace caracal::apiserver {

// RFC 7386 JSON merge patch: objects merge key by key, `null` deletes a key, everything else
// (including arrays) replaces the target value whole. `patch` must be an object, else BadRequest.
Result<Value> applyMergePatch(const Value& target, const Value& patch);

// RFC 6901 JSON pointer, split into unescaped reference tokens ("" -> {}, "/a~1b/0" ->
// {"a/b","0"}). BadRequest when the pointer is neither empty nor starts with '/', or holds a '~'
// not followed by '0' or '1'.
Result<std::vector<std::string>> parseJsonPointer(std::string_view pointer);

// RFC 6902 JSON patch: `patch` is an array of operations (add, remove, replace, move, copy, test),
// applied in order to a copy of `target`; the result is all-or-nothing. Array indexes are decimal
// without leading zeros; "-" appends (add, and the destination of move/copy). Members other than
// op/path/from/value are ignored. Errors name the operation: `json patch operation 2 (remove)
// path "/a/b": no member "b"` (BadRequest); a failed test is Code::Invalid.
Result<Value> applyJsonPatch(const Value& target, const Value& patch);

// Kubernetes strategic merge patch, approximated without Go type information. It behaves like a
// merge patch except for lists:
//   - lists whose field has a known merge key are merged item by item on that key (patch items
//     replace-merge into the live item with the same key, new items are appended):
//       containers, initContainers, ephemeralContainers, volumes, env, imagePullSecrets -> "name"
//       <container>.ports -> "containerPort"    volumeMounts -> "mountPath"
//       volumeDevices -> "devicePath"           conditions -> "type"
//       status.addresses (Node) -> "type"       metadata.ownerReferences -> "uid"
//   - metadata.finalizers is a merged list of scalars (patch values are added when missing);
//   - every other list is replaced whole (e.g. NetworkPolicy ingress/egress, envFrom, tolerations).
// Directives, all of which are removed from the result:
//   "$patch": "replace" | "merge" | "delete" in a map (replace the map, the default, drop the map);
//   {"name": x, "$patch": "delete"} in a merged list (drop the item with that key);
//   {"$patch": "replace"} as a list item (the rest of the patch list replaces the list);
//   "$retainKeys": [keys] (drop live keys not listed; patch keys must be listed);
//   "$deleteFromPrimitiveList/<field>": [values] (remove those values from the scalar list);
//   "$setElementOrder/<field>": [items] (the listed items take that relative order).
// Errors (BadRequest) name the field path: an unknown "$patch" value, a merged-list item without
// its merge key, a malformed directive.
Result<Value> applyStrategicMergePatch(const Value& target, const Value& patch);

// Server-side apply, simplified but faithful to the ownership model.
//
// `applied` is the full intended configuration of `manager`. Maps are merged key by key; lists and
// scalars are atomic (a list is owned and replaced whole); `null` members of `applied` are ignored.
// Ownership is kept in live.metadata.managedFields in Kubernetes' wire format:
//   [{"manager": M, "operation": "Apply" | "Update", "apiVersion": ..., "time": now,
//     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:cidr": {}}}}]
// Rules:
//   - Fields `manager` applied before (its Apply entry) but absent from `applied` are removed from
//     the object unless another manager also owns them; maps emptied by such removals are pruned.
//   - A field owned by another manager (any entry with a different manager name) whose value
//     `applied` changes is a conflict. With force=false the call fails with Code::Conflict and a
//     Kubernetes-worded message, e.g. `Apply failed with 1 conflict: conflict with
//     "kubectl-client-side-apply" using projectcalico.org/v3: .spec.blockSize`, and one FieldCause
//     (reason "FieldManagerConflict") per field. With force=true the other managers lose the
//     fields. Setting a field to the value it already has makes `manager` a co-owner, never a
//     conflict.
//   - An existing object without managedFields has its fields attributed to the manager
//     "before-first-apply" (operation Update) first, as Kubernetes does.
//   - apiVersion, kind and metadata.{name, namespace, uid, resourceVersion, creationTimestamp,
//     generation, managedFields, deletionTimestamp, deletionGracePeriodSeconds, selfLink} are never
//     owned or removed; name/namespace are taken from `applied` only when `live` lacks them.
//   - Entries whose field set becomes empty are dropped.
// `live` may be null (create). `now` is an RFC 3339 timestamp recorded as "time". BadRequest when
// `applied` is not an object or `live` is neither null nor an object.
Result<Value> applyServerSide(const Value& live, const Value& applied, const std::string& manager,
                              bool force, const std::string& apiVersion, const std::string& now);

// Records that `manager` wrote `newObj` over `oldObj` with a non-apply request (PUT, PATCH, POST
// with fieldManager): every leaf field whose value differs (added or changed) becomes owned by
// `manager`'s "Update" entry and is removed from the other entries; fields that disappeared are
// removed from every entry; empty entries are dropped. The entries start from newObj's
// metadata.managedFields when the request carried that member, else from oldObj's. `oldObj` may be
// null (create). Does nothing when `newObj` is not an object.
void recordUpdateOwnership(Value& newObj, const Value& oldObj, const std::string& manager,
                           const std::string& apiVersion, const std::string& now);

} // namespace caracal::apiserver
