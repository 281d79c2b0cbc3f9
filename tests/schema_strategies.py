"""Hypothesis strategies generated from the JSON Schema snapshots, and a validator to match.

hypothesis-jsonschema does not run against the Hypothesis this project uses, so this module
covers the keyword subset the snapshots use and raises on any other keyword: a snapshot that
grows a keyword this module cannot honour fails the tests instead of being half-checked.
The validator is ``jsonschema``'s Draft 2020-12 validator; ``pattern`` there behaves as in
ECMA-262 for our patterns (they end with ``$(?!\\n)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import strategies as st

SNAPSHOTS = Path(__file__).resolve().parents[1] / "schemas" / "tooltrail" / "schemas" / "jsonschema"
ANNOTATIONS = {
    "title",
    "description",
    "default",
    "format",
    "$id",
    "$comment",
    "x-schema-version",
    "$schema",
    "examples",
}
HANDLED = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "maxItems",
    "minItems",
    "maxLength",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "enum",
    "const",
    "anyOf",
    "$ref",
    "$defs",
    "maxProperties",
    "propertyNames",
    "not",
}
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


def snapshot(name: str) -> dict[str, Any]:
    """The checked-in JSON Schema of a wire model, by model name."""
    data: dict[str, Any] = json.loads((SNAPSHOTS / f"{name}.json").read_text())
    return data


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A Draft 2020-12 validator for ``schema`` (formats are annotations; patterns decide)."""
    return jsonschema.Draft202012Validator(schema)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances valid against ``schema`` (the subset of keywords in ``HANDLED``)."""
    return _strategy(schema, schema.get("$defs", {}))


def _strategy(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    unknown = set(node) - HANDLED - ANNOTATIONS
    if unknown:
        raise NotImplementedError(f"schema keywords not covered by the generator: {unknown}")
    if "$ref" in node:
        return _strategy(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    if "not" in node:
        refused = validator(node["not"])
        rest = {k: v for k, v in node.items() if k != "not"}
        return _strategy(rest, defs).filter(lambda value: not refused.is_valid(value))
    if "anyOf" in node:
        return st.one_of([_strategy(option, defs) for option in node["anyOf"]])
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind is None:
        return ANY_JSON
    return _TYPED[kind](node, defs)


def _string(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in node:
        return st.from_regex(node["pattern"])
    return st.text(min_size=node.get("minLength", 0), max_size=node.get("maxLength", 40))


def _number(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[float]:
    lo, hi = node.get("minimum"), node.get("maximum")
    floats = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return floats | st.integers(
        int(lo) if lo is not None else None, int(hi) if hi is not None else None
    )


def _integer(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[int]:
    return st.integers(node.get("minimum"), node.get("maximum"))


def _array(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    items = _strategy(node.get("items", {}), defs)
    return st.lists(
        items, min_size=node.get("minItems", 0), max_size=min(node.get("maxItems", 4), 4)
    )


@st.composite
def _object_value(draw: st.DrawFn, node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    out = {
        name: draw(_strategy(props[name], defs))
        for name in props
        if name in required or draw(st.booleans())
    }
    extra = node.get("additionalProperties", True)
    if extra is not False and not props:  # a map: keys of the allowed shape, values of the schema
        names = _string(node.get("propertyNames", {}), defs)
        values = ANY_JSON if extra is True else _strategy(extra, defs)
        size = min(node.get("maxProperties", 3), 3)
        out.update(draw(st.dictionaries(names, values, max_size=size)))
    return out


_TYPED = {
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": lambda node, defs: st.booleans(),
    "null": lambda node, defs: st.none(),
    "array": _array,
    "object": _object_value,
}
