"""Documents that say themselves which of their values are secrets, whatever their names.

``secret_children(mapping)`` returns, for a mapping the structured walk meets, the children
that are secrets by the document's own account (``STRONG`` for a child, or a set of names
that are secrets anywhere below a child):

* Terraform: an output with ``"sensitive": true`` (its ``value``); a state resource's
  ``sensitive_attributes`` (the attributes they list) and ``random_password``/
  ``random_string`` resources (``result``, ``bcrypt_hash``); ``terraform show -json``
  ``sensitive_values`` and a plan's ``after_sensitive``/``before_sensitive``;
* Pulumi secrets (the ``4dabf18193072939515e22adb298388d`` marker): every other member;
* secret managers: a Vault response (``lease_id``, ``renewable`` … and ``data``), an Azure
  Key Vault secret bundle (``value`` beside an ``id`` under ``/secrets/``), a GCP secret
  version (``payload`` beside a ``name`` under ``/secrets/``);
* a JWK (``kty``): its private members (``material.JWK_PRIVATE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tooltrail.schemas.redact.keys import STRONG
from tooltrail.schemas.redact.material import JWK_PRIVATE

PULUMI_SECRET = "4dabf18193072939515e22adb298388d"  # noqa: S105 - Pulumi's marker, not a secret
_GENERATED = {"random_password": ("result", "bcrypt_hash"), "random_string": ("result",)}
_VAULT_FIELDS = ("lease_id", "lease_duration", "renewable")
Children = dict[str, int | frozenset[str]]


def secret_children(value: Mapping[Any, Any]) -> Children | None:
    """The children of ``value`` that it marks as secrets (module docstring), or None."""
    out: Children = {}
    if value.get("sensitive") is True and "value" in value:
        out["value"] = STRONG
    if PULUMI_SECRET in value:
        out.update(dict.fromkeys((k for k in value if k != PULUMI_SECRET), STRONG))
    if "kty" in value:
        out.update(dict.fromkeys((k for k in value if k in JWK_PRIVATE), STRONG))
    _terraform(value, out)
    _managers(value, out)
    return out or None


def _terraform(value: Mapping[Any, Any], out: Children) -> None:
    kind = value.get("type")
    generated = _GENERATED.get(kind) if isinstance(kind, str) else None
    if generated and "instances" in value:
        out["instances"] = frozenset(generated)
    listed = _listed_names(value.get("sensitive_attributes"))
    if listed and "attributes" in value:
        out["attributes"] = listed
    for values_key, flags_key in (
        ("values", "sensitive_values"),
        ("after", "after_sensitive"),
        ("before", "before_sensitive"),
    ):
        flagged = _flagged_names(value.get(flags_key))
        if flagged and values_key in value:
            out[values_key] = flagged


def _managers(value: Mapping[Any, Any], out: Children) -> None:
    if "data" in value and sum(f in value for f in _VAULT_FIELDS) >= 2:
        out["data"] = STRONG
    ident, name = value.get("id"), value.get("name")
    if "value" in value and isinstance(ident, str) and "/secrets/" in ident:
        out["value"] = STRONG
    if "payload" in value and isinstance(name, str) and "/secrets/" in name:
        out["payload"] = STRONG


def _listed_names(paths: Any) -> frozenset[str]:
    """``[[{"type": "get_attr", "value": "result"}], …]`` (or one level less): the names."""
    names: set[str] = set()
    if not isinstance(paths, list):
        return frozenset()
    for path in paths[:256]:
        steps = path if isinstance(path, list) else [path]
        first = steps[0] if steps else None
        if isinstance(first, Mapping) and isinstance(first.get("value"), str):
            names.add(first["value"])
    return frozenset(names)


def _flagged_names(flags: Any) -> frozenset[str]:
    """``{"result": true, "keepers": {}}``: the names flagged (or holding flags)."""
    if not isinstance(flags, Mapping):
        return frozenset()
    return frozenset(k for k, v in list(flags.items())[:256] if isinstance(k, str) and v)
