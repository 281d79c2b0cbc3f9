"""JSON Schema snapshots of every wire model, generated from the models themselves.

``tooltrail schemas dump`` rewrites ``schemas/jsonschema/*.json``; a unit test fails when the
checked-in files drift from what the models generate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from tooltrail.schemas.bounds import contract_note
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.records import DeadLetter, EnrichmentEntry, MemoryRecord, MetricRecord

SNAPSHOT_DIR = Path(__file__).with_name("jsonschema")
DIALECT = "https://json-schema.org/draft/2020-12/schema"
WIRE_MODELS: tuple[type[BaseModel], ...] = (
    ToolExecutionEvent,
    MetricRecord,
    MemoryRecord,
    EnrichmentEntry,
    DeadLetter,
)


def generate() -> dict[str, bytes]:
    """Return ``{file name: JSON bytes}`` for every wire model (validation mode, by alias)."""
    out: dict[str, bytes] = {}
    for model in WIRE_MODELS:
        schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")
        version = int(getattr(model, "version", 1))
        schema["$schema"] = DIALECT
        schema["$id"] = f"https://tooltrail.dev/schemas/{model.__name__}/v{version}.json"
        # the version goes in $id and $comment: strict validators (Ajv) refuse x- keywords
        note = f"tooltrail wire schema {model.__name__} version {version}; {contract_note()}"
        schema["$comment"] = f"{note}; {schema['$comment']}" if "$comment" in schema else note
        text = orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        out[f"{model.__name__}.json"] = text
    return out


def write(directory: Path = SNAPSHOT_DIR) -> list[Path]:
    """Write the snapshots into ``directory`` and return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in generate().items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def drift(directory: Path = SNAPSHOT_DIR) -> list[str]:
    """Return the names of snapshot files that are missing or differ from the models."""
    return [
        name
        for name, data in generate().items()
        if not (directory / name).is_file() or (directory / name).read_bytes() != data
    ]
