"""What a write goes through before it is stored: decoding, merging, defaulting and validation.

The store calls these on every create, update, patch and binding: built-in kinds get the built-in
defaults and validation, custom resources their CRD's structural schema.
"""

from __future__ import annotations

from . import defaults, schemas, validation
from .crds import CustomResources
from .errors import ApiError, forbidden_field, invalid, strict_decoding
from .objects import copy_json
from .resources import ResourceType

# Metadata a write cannot change: the store keeps what it had.
_KEPT_METADATA = (
    "uid",
    "creationTimestamp",
    "namespace",
    "name",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "resourceVersion",
)


def unknown_fields(crds: CustomResources, rt: ResourceType, obj: dict) -> list[str]:
    """Paths of fields the kind does not declare (the server drops them unless validation is Strict)."""
    if crds.schema_for(rt) is not None:
        return crds.unknown_fields(rt, obj)
    return schemas.decode(rt, obj)[1]


def check_strict(crds: CustomResources, rt: ResourceType, obj: dict, strict: bool) -> None:
    """``fieldValidation=Strict``: a field the kind does not declare is a 400."""
    if strict and (unknown := unknown_fields(crds, rt, obj)):
        raise strict_decoding(rt, unknown)


def admit(crds: CustomResources, rt: ResourceType, obj: dict, old: dict | None) -> dict:
    """Defaulting and validation: built-in rules, or the CRD's structural schema."""
    if crds.schema_for(rt) is not None:
        if old is None and rt.has_status:
            obj.pop("status", None)  # a create never sets status when it is a subresource
        causes = validation.validate_metadata(rt, obj["metadata"])
        if causes:
            raise invalid(rt, obj["metadata"].get("name", ""), causes)
        return crds.admit(rt, obj, old)
    obj = schemas.decode(rt, obj)[0]
    if old is None:
        defaults.prepare_for_create(rt, obj)
    else:
        defaults.prepare_for_update(rt, obj, old)
    defaults.apply(rt, obj)
    causes = validation.validate(rt, obj, old)
    if causes:
        raise invalid(rt, obj["metadata"].get("name", ""), causes)
    return obj


def merge(rt: ResourceType, existing: dict, incoming: dict, subresource: str | None) -> dict:
    """The object an update leaves: status writes touch only status, spec writes never touch status.

    It carries no managedFields: managed_fields.track derives them from ``existing``, whatever the
    client sent (see managed_fields).
    """
    if subresource not in (None, "status", "scale"):
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({subresource})")
    if subresource == "status":
        merged = {}
        for key, value in existing.items():
            if key == "metadata":
                merged[key] = copy_json(_unmanaged(value))
            elif key != "status":
                merged[key] = copy_json(value)
            elif "status" in incoming:
                merged[key] = copy_json(incoming["status"])
        if "status" in incoming and "status" not in merged:
            merged["status"] = copy_json(incoming["status"])
        return merged
    merged = {key: copy_json(_unmanaged(v) if key == "metadata" else v) for key, v in incoming.items()}
    merged["apiVersion"], merged["kind"] = existing["apiVersion"], existing["kind"]
    if rt.has_status:
        if "status" in existing:
            merged["status"] = copy_json(existing["status"])
        else:
            merged.pop("status", None)
    meta = merged["metadata"]
    for kept in _KEPT_METADATA:
        if kept in existing["metadata"]:
            meta[kept] = existing["metadata"][kept]
        else:
            meta.pop(kept, None)
    return merged


def check_finalizers(rt: ResourceType, existing: dict, new: dict) -> None:
    """An object being deleted may lose finalizers but gain none."""
    if not existing["metadata"].get("deletionTimestamp"):
        return
    added = set(new["metadata"].get("finalizers") or []) - set(existing["metadata"].get("finalizers") or [])
    if added:
        listed = ", ".join(f'"{f}"' for f in sorted(added))
        detail = f"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{listed}}}"
        raise invalid(rt, existing["metadata"]["name"], [forbidden_field("metadata.finalizers", detail)])


def unchanged(new: dict, old: dict) -> bool:
    """Whether a write leaves the object (managedFields included) as it was: a no-op, not stored.

    A write that changes no field also leaves managedFields alone, so it bumps no resourceVersion.
    """
    if new.keys() != old.keys() or any(new[k] != old[k] for k in new if k != "metadata"):
        return False
    new_meta, old_meta = new["metadata"], old["metadata"]
    return new_meta.keys() == old_meta.keys() and all(
        new_meta[k] == old_meta[k] for k in new_meta if k != "resourceVersion"
    )


def spec_changed(rt: ResourceType, new: dict, old: dict) -> bool:
    """Whether a write bumps metadata.generation: it changed more than metadata (and status, where
    status is a subresource)."""
    return _spec_of(rt, new) != _spec_of(rt, old)


def _unmanaged(meta: dict) -> dict:
    """Metadata less managedFields, which only the server writes (see managed_fields)."""
    return {key: value for key, value in meta.items() if key != "managedFields"}


def _spec_of(rt: ResourceType, obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "metadata" and not (k == "status" and rt.has_status)}
