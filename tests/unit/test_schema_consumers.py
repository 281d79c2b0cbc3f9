"""The snapshots as a producer in another language uses them: Ajv in strict mode (the usual
JavaScript validator) and the generated TypeScript declarations under ``tsc --strict``.

The Node tools (ajv, ajv-formats, typescript) are installed with npm into ``.ci/node`` the
first time (``.ci/run`` does it up front).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import AwareDatetime, TypeAdapter

from tests.factories import make_event
from tests.schema_strategies import SNAPSHOTS
from tooltrail.schemas import typescript
from tooltrail.schemas.codec import decode_one
from tooltrail.schemas.errors import SchemaDecodeError
from tooltrail.schemas.events import ToolExecutionEvent

ROOT = Path(__file__).parents[2]
TOOLS = ROOT / ".ci" / "node"
PACKAGES = ("ajv@8", "ajv-formats@3", "typescript@5")
_TIME = TypeAdapter(AwareDatetime)


@pytest.fixture(scope="module")
def node_tools() -> Path:
    """``.ci/node/node_modules`` with Ajv and TypeScript (installed with npm if missing)."""
    modules = TOOLS / "node_modules"
    if not all((modules / p.split("@")[0]).is_dir() for p in PACKAGES):
        npm = shutil.which("npm")
        assert npm, "npm is needed for the Ajv and TypeScript checks (Node.js 18+)"
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(TOOLS),
                "--no-audit",
                "--no-fund",
                "--silent",
                *PACKAGES,
            ],
            check=True,
            timeout=300,
        )
    return modules


def _ajv(modules: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        ["node", str(ROOT / "tests" / "node" / "ajv_check.js"), *args],
        env={"NODE_PATH": str(modules), "PATH": str(Path(shutil.which("node") or "node").parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_every_snapshot_compiles_under_ajv_strict(node_tools: Path) -> None:
    result = _ajv(node_tools, str(SNAPSHOTS))
    assert result["compiled"] == sorted(p.name for p in SNAPSHOTS.glob("*.json"))


EDGES: list[Any] = [
    None,
    True,
    0,
    -1,
    2.0,
    2.5,
    1e300,
    "",
    "x" * 65,
    "x" * 241,
    "é" * 1537,
    [],
    {},
    ["a"] * 33,
    {"k": "true"},
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00.123456789+14:00",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00Z\n",
    "9999-12-31T23:59:59-14:00",
    604_800_001,
    "12",
    {"domain": ""},
    {"severity": "fatal"},
]


def _instances(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(7)
    base: dict[str, Any] = orjson.loads(
        make_event(flags={"A": True}).model_dump_json(by_alias=True)
    )
    fields = sorted(base)
    out = []
    for _ in range(n):
        item = dict(base)
        for _ in range(rnd.randint(0, 2)):
            field = rnd.choice(fields)
            if rnd.random() < 0.2:
                item.pop(field, None)
            else:
                item[field] = rnd.choice(EDGES)
        out.append(item)
    return out


def _in_order(item: dict[str, Any]) -> bool:
    try:
        return bool(
            _TIME.validate_python(item["endedAt"]) >= _TIME.validate_python(item["startedAt"])
        )
    except (KeyError, ValueError):
        return True


def test_ajv_accepts_exactly_the_events_the_reader_accepts(
    node_tools: Path, tmp_path: Path
) -> None:
    items = _instances(400)
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(json.dumps(i) + "\n" for i in items))
    verdicts = _ajv(node_tools, str(SNAPSHOTS), "ToolExecutionEvent.json", str(lines))["valid"]
    assert len(verdicts) == len(items)
    assert 50 < sum(verdicts) < 350  # the mix has both
    for item, ajv_valid in zip(items, verdicts, strict=True):
        ours = not isinstance(decode_one(orjson.dumps(item), ToolExecutionEvent), SchemaDecodeError)
        assert ours == (ajv_valid and _in_order(item)), item


def test_typescript_declarations_are_current_and_strict(node_tools: Path) -> None:
    assert not typescript.drifted(), "run 'tooltrail schemas dump' and commit the result"
    tsc = node_tools / "typescript" / "bin" / "tsc"
    out = subprocess.run(
        [
            str(shutil.which("node")),
            str(tsc),
            "--strict",
            "--noEmit",
            "--target",
            "es2020",
            "--module",
            "commonjs",
            str(ROOT / "tests" / "node" / "sample.ts"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
