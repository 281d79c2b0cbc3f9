"""The package layers, read from the import statements of every module.

``schemas`` (the wire) imports nothing else of tooltrail; ``producer`` builds on ``schemas``;
the consumers' runtime builds on ``schemas``; only ``consumers.app`` (CLI, ``up``, launcher,
benchmarks, demo) may import ``producer``. Only ``schemas.kafka_meta`` in ``schemas`` may
import aiokafka, so reading the wire formats never loads a Kafka client.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from … import`` names in the file (lazy ones too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _offences(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in files:
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                bad.append(f"{shown} imports {name}")
    return bad


def test_the_scan_sees_lazy_imports_and_submodules(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from producer import sender\n    import consumers.app.cli\n")
    assert {"producer.sender", "consumers.app.cli"} <= _imports(sample)
    assert _offences([sample], ("consumers.app",)) == [f"{sample} imports consumers.app.cli"]


def test_schemas_imports_nothing_else_of_tooltrail() -> None:
    assert _offences(_modules("schemas"), ("producer", "consumers", "tests")) == []


def test_only_kafka_meta_in_schemas_imports_aiokafka() -> None:
    files = [p for p in _modules("schemas") if p.name != "kafka_meta.py"]
    assert _offences(files, ("aiokafka",)) == []


def test_the_producer_builds_on_schemas_only() -> None:
    assert _offences(_modules("producer"), ("consumers", "tests")) == []


def test_only_the_app_layer_imports_the_producer() -> None:
    runtime = [p for p in _modules("consumers") if "app" not in p.relative_to(ROOT).parts[1:2]]
    assert runtime, "the runtime has modules"
    assert _offences(runtime, ("producer", "consumers.app", "tests")) == []


@pytest.mark.parametrize("forbidden", ["producer", "consumers.app"])
def test_a_runtime_module_that_imports_upwards_is_caught(tmp_path: Path, forbidden: str) -> None:
    sample = tmp_path / "runner.py"
    sample.write_text(f"import asyncio\nfrom {forbidden} import something\n")
    assert _offences([sample], (forbidden,)) == [
        f"{sample} imports {forbidden}",
        f"{sample} imports {forbidden}.something",
    ]
