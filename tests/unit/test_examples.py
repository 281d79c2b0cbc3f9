"""The examples in producer/examples and every Python snippet of the README.

A README snippet is an excerpt of an example file, verbatim: the examples are run end to end
against a real broker and worker (tests/integration/test_examples.py), so the snippets cannot
drift from working code. Here, without a network: each example imports, registers its tools,
and the client passes the TOOLTRAIL_* settings on to the server it starts.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "producer" / "examples"
SERVERS = ("mcp_server", "fastmcp_server")


def readme_snippets(text: str) -> list[str]:
    """The body of every ```python block."""
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def _normal(code: str) -> list[str]:
    """Lines of code without blank lines and trailing blanks (an excerpt may skip some)."""
    return [line.rstrip() for line in textwrap.dedent(code).splitlines() if line.strip()]


def is_excerpt(snippet: str, source: str) -> bool:
    """True if the snippet's lines appear in ``source`` in order, each whole (gaps allowed
    only where the snippet has a ``...`` line)."""
    wanted, lines = _normal(snippet), _normal(source)
    position = 0
    for chunk in _chunks(wanted):
        found = _find(lines, chunk, position)
        if found < 0:
            return False
        position = found + len(chunk)
    return True


def _chunks(lines: list[str]) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    for line in lines:
        if line.strip() in ("...", "# ..."):
            chunks.append([])
        else:
            chunks[-1].append(line)
    return [c for c in chunks if c]


def _find(lines: list[str], chunk: list[str], start: int) -> int:
    stripped = [line.strip() for line in lines]
    want = [line.strip() for line in chunk]
    for i in range(start, len(lines) - len(chunk) + 1):
        if stripped[i : i + len(chunk)] == want:
            return i
    return -1


def _load(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("TOOLTRAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_readme_python_snippet_is_an_excerpt_of_a_tested_example() -> None:
    readme = (ROOT / "README.md").read_text()
    snippets = readme_snippets(readme)
    assert len(snippets) >= 4
    sources = {p.name: p.read_text() for p in EXAMPLES.glob("*.py")}
    for snippet in snippets:
        homes = [name for name, source in sources.items() if is_excerpt(snippet, source)]
        assert homes, f"README snippet found in no example:\n{snippet}"


def test_the_excerpt_check_catches_a_drifted_snippet() -> None:
    source = (EXAMPLES / "mcp_server.py").read_text()
    assert is_excerpt('def main() -> None:\n...\n    try:\n        server.run("stdio")\n', source)
    assert not is_excerpt('server.run("sse")\n', source)
    assert not is_excerpt('server.run("stdio")\n...\ntrail = TrailProducer()\n', source)  # order


@pytest.mark.parametrize("name", [*SERVERS, "decorated", "client"])
def test_every_example_is_a_script_with_a_docstring_and_a_main(name: str) -> None:
    tree = ast.parse((EXAMPLES / f"{name}.py").read_text())
    assert ast.get_docstring(tree)
    assert any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body
    )


@pytest.mark.parametrize("name", SERVERS)
async def test_a_server_example_registers_its_tools_behind_the_middleware(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = _load(name, monkeypatch, tmp_path)
    server: Any = module.server if name == "mcp_server" else module.mcp
    try:
        tools = await server.list_tools()
        assert {t.name for t in tools} == {"oc_read_get_pods", "oc_write_scale_deployment"}
        middleware = [type(m).__name__ for m in server.middleware]
        assert any(n.startswith("Tooltrail") for n in middleware), middleware
        assert module.trail.settings.kafka_bootstrap == "127.0.0.1:9"  # from TOOLTRAIL_*
    finally:
        module.trail.close(timeout=1)


def test_the_client_passes_the_tooltrail_settings_and_nothing_secret_else(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "broker:9092")
    monkeypatch.setenv("TOOLTRAIL_ENVIRONMENT", "staging")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-server")
    client = _load("client", monkeypatch, tmp_path)
    env = client.server_environment()
    assert env["TOOLTRAIL_KAFKA_BOOTSTRAP"] == "127.0.0.1:9"  # as _load set it last
    assert env["TOOLTRAIL_ENVIRONMENT"] == "staging"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env.get("PATH") == __import__("os").environ["PATH"]  # the SDK's defaults stay


def test_the_sdk_client_alone_would_drop_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the client passes them: the SDK's default environment has no TOOLTRAIL_*."""
    from mcp.client.stdio import get_default_environment

    monkeypatch.setenv("TOOLTRAIL_KAFKA_BOOTSTRAP", "broker:9092")
    assert "TOOLTRAIL_KAFKA_BOOTSTRAP" not in get_default_environment()
    assert sys.executable  # the client starts the server with this interpreter
