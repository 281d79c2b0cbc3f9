"""The package layers, read from the import statements of every module.

``tooltrail.schemas`` (the wire) imports nothing else of tooltrail; ``tooltrail.producer``
builds on it; the workers' runtime builds on it and never on the producer; only
``tooltrail.consumers.app`` (CLI, ``up``, launcher, benchmarks, demo) may import the producer.
Inside the runtime the rooms are layered: plumbing (``kafka``, ``memory``, ``observability``)
below ``sinks``, below ``runtime``, below ``replay``. Inside ``schemas`` only the ``kafka``
subpackage imports aiokafka, and redaction calls go one way: engine → scan → rule families →
values → keys → patterns.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "tooltrail" / "schemas"
PRODUCER = ROOT / "producer" / "tooltrail" / "producer"
CONSUMERS = ROOT / "consumers" / "tooltrail" / "consumers"
#: Each runtime room and the rooms it must not import (the ones above it).
ROOMS = {
    "kafka": ("memory", "observability", "sinks", "runtime", "replay", "app"),
    "memory": ("kafka", "observability", "sinks", "runtime", "replay", "app"),
    "observability": ("memory", "sinks", "runtime", "replay", "app"),
    "sinks": ("runtime", "replay", "app"),
    "runtime": ("replay", "app"),
    "replay": ("app",),
}
#: Redaction modules and the redaction modules each may import.
REDACTION = {
    "patterns": (),
    "budget": (),
    "keys": ("patterns",),
    "values": ("keys", "patterns"),
    "vendors": ("keys", "patterns"),
    "blocks": ("keys", "patterns", "values"),
    "argv": ("keys", "patterns", "values"),
    "material": ("keys", "patterns", "vendors"),
    "outputs": ("keys", "patterns", "values"),
    "pairs": ("keys", "patterns", "values", "blocks"),
    "urls": ("keys", "patterns", "values", "pairs"),
    "prose": ("keys", "patterns", "values", "pairs"),
    "tables": ("keys", "patterns", "values", "pairs"),
    "lines": ("keys", "patterns", "values", "pairs"),
    "encoded": ("keys", "patterns", "pairs", "vendors"),
    "documents": ("keys", "material"),
    "iac": ("keys", "patterns", "pairs", "documents"),
    "modes": ("keys", "argv", "documents", "outputs"),
    "scan": (
        *("keys", "patterns", "budget", "vendors", "pairs", "argv", "material", "urls"),
        *("prose", "tables", "lines", "encoded", "iac", "outputs"),
    ),
    "engine": (
        *("keys", "values", "budget", "argv", "material", "encoded", "outputs", "modes"),
        *("vendors", "limits", "scan"),
    ),
    "limits": ("budget",),
    "logfilter": ("engine", "budget"),
}


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


def _offences(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in files:
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                bad.append(f"{shown} imports {name}")
    return bad


def _room(name: str) -> list[Path]:
    found = sorted((CONSUMERS / name).rglob("*.py")) or [CONSUMERS / f"{name}.py"]
    assert all(p.exists() for p in found), name
    return found


def test_the_scan_sees_lazy_imports_and_submodules(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "def f():\n"
        "    from tooltrail.producer import sender\n"
        "    import tooltrail.consumers.app.cli\n"
    )
    assert {"tooltrail.producer.sender", "tooltrail.consumers.app.cli"} <= _imports(sample)
    assert _offences([sample], ("tooltrail.consumers.app",)) == [
        f"{sample} imports tooltrail.consumers.app.cli"
    ]


def test_no_top_level_package_but_tooltrail_is_installed() -> None:
    for folder in ("schemas", "producer", "consumers"):
        assert not (ROOT / folder / "__init__.py").exists(), folder
        assert [p.name for p in (ROOT / folder).iterdir() if p.suffix == ".py"] == [], folder
        assert (ROOT / folder / "tooltrail" / folder / "__init__.py").exists(), folder


def test_schemas_imports_nothing_else_of_tooltrail() -> None:
    files = sorted(SCHEMAS.rglob("*.py"))
    assert _offences(files, ("tooltrail.producer", "tooltrail.consumers", "tests")) == []


def test_only_the_kafka_subpackage_of_schemas_imports_aiokafka() -> None:
    files = [p for p in SCHEMAS.rglob("*.py") if "kafka" not in p.relative_to(SCHEMAS).parts]
    assert _offences(files, ("aiokafka",)) == []


def test_the_producer_builds_on_schemas_only() -> None:
    assert _offences(sorted(PRODUCER.rglob("*.py")), ("tooltrail.consumers", "tests")) == []


#: The sender's parts, each importing only the parts before it (``sender/__init__.py``).
SENDER_PARTS = (
    "handover",
    "pacing",
    "clock",
    "state",
    "spill",
    "link",
    "flights",
    "resend",
    "pump",
)


@pytest.mark.parametrize("part", SENDER_PARTS)
def test_each_sender_part_imports_only_the_parts_before_it(part: str) -> None:
    above = SENDER_PARTS[SENDER_PARTS.index(part) + 1 :]
    forbidden = tuple(f"tooltrail.producer.sender.{p}" for p in above)
    assert _offences([PRODUCER / "sender" / f"{part}.py"], forbidden) == []


def test_the_sender_parts_are_every_module_of_the_sender() -> None:
    found = {p.stem for p in (PRODUCER / "sender").glob("*.py")} - {"__init__"}
    assert found == set(SENDER_PARTS)


def test_only_the_link_builds_the_senders_kafka_client() -> None:
    others = [PRODUCER / "sender" / f"{p}.py" for p in SENDER_PARTS if p != "link"]
    assert _offences(others, ("tooltrail.schemas.kafka.clients",)) == []
    assert "tooltrail.schemas.kafka.clients" in _imports(PRODUCER / "sender" / "link.py")


def test_only_the_app_layer_imports_the_producer() -> None:
    runtime = [p for p in CONSUMERS.rglob("*.py") if p.relative_to(CONSUMERS).parts[0] != "app"]
    assert len(runtime) > 20, "the runtime has modules"
    assert _offences(runtime, ("tooltrail.producer", "tooltrail.consumers.app", "tests")) == []


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_each_runtime_room_imports_only_the_rooms_below_it(room: str) -> None:
    forbidden = tuple(f"tooltrail.consumers.{r}" for r in ROOMS[room])
    assert _offences(_room(room), forbidden) == []


def test_only_the_group_assembly_imports_the_runner() -> None:
    """A member's state has one owner (``runtime.member``) that the runner, the rebalance
    listener and the watcher share: none of them reaches back into the runner."""
    runtime = sorted((CONSUMERS / "runtime").glob("*.py"))
    others = [p for p in runtime if p.stem not in ("groups", "runner")]
    assert len(others) >= 5
    assert _offences(others, ("tooltrail.consumers.runtime.runner",)) == []


@pytest.mark.parametrize("module", sorted(REDACTION))
def test_redaction_calls_go_one_way(module: str) -> None:
    allowed = {f"tooltrail.schemas.redact.{m}" for m in (module, *REDACTION[module])}
    found = {
        name.rsplit(".", 1)[0] if name.count(".") > 3 else name
        for name in _imports(SCHEMAS / "redact" / f"{module}.py")
        if name.startswith("tooltrail.schemas.redact.")
    }
    assert found <= allowed, sorted(found - allowed)


def test_every_redaction_module_has_a_place_in_the_order() -> None:
    modules = {p.stem for p in (SCHEMAS / "redact").glob("*.py")} - {"__init__"}
    assert modules == set(REDACTION)


@pytest.mark.parametrize("forbidden", ["tooltrail.producer", "tooltrail.consumers.app"])
def test_a_runtime_module_that_imports_upwards_is_caught(tmp_path: Path, forbidden: str) -> None:
    sample = tmp_path / "runner.py"
    sample.write_text(f"import asyncio\nfrom {forbidden} import something\n")
    assert _offences([sample], (forbidden,)) == [
        f"{sample} imports {forbidden}",
        f"{sample} imports {forbidden}.something",
    ]


def test_a_tool_server_with_its_own_schemas_module_imports_tooltrail(tmp_path: Path) -> None:
    """Generic names of the tool server's own (``schemas``, ``producer``) shadow nothing of ours."""
    import subprocess
    import sys

    for name in ("schemas", "producer", "consumers"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"WHO = 'the tool server {name}'\n")
    code = (
        "import schemas, producer, consumers\n"
        "from tooltrail.producer import TrailProducer\n"
        "from tooltrail.schemas import ToolExecutionEvent\n"
        "import tooltrail\n"
        "assert schemas.WHO == 'the tool server schemas', schemas.WHO\n"
        "assert producer.WHO == 'the tool server producer'\n"
        "assert TrailProducer.__module__ == 'tooltrail.producer.emitter'\n"
        "assert ToolExecutionEvent.__module__ == 'tooltrail.schemas.events'\n"
        "print(tooltrail.__version__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()[:1].isdigit()


def test_kafka_clients_are_built_only_by_the_factory() -> None:
    """One place decides what a process's Kafka clients talk to (``schemas.kafka.clients``)."""
    factory = SCHEMAS / "kafka" / "clients.py"
    constructors = ("AIOKafkaProducer(", "AIOKafkaConsumer(", "AIOKafkaAdminClient(")
    found = [
        f"{path.relative_to(ROOT)} builds {name[:-1]}"
        for root in (SCHEMAS, PRODUCER, CONSUMERS)
        for path in sorted(root.rglob("*.py"))
        if path != factory
        for name in constructors
        if name in path.read_text()
    ]
    assert found == []
    assert all(name in factory.read_text() for name in constructors)
