"""Package hygiene: light producer import, schema snapshots in sync, a quiet CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tooltrail.schemas import jsonschemas


def test_import_producer_pulls_nothing_heavy() -> None:
    code = (
        "import sys, tooltrail.producer, tooltrail.schemas; "
        "heavy = [m for m in ('chromadb', 'onnxruntime', 'tokenizers', 'numpy', 'mcp', 'fastmcp',"
        " 'rich', 'tooltrail.consumers') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert out.stderr == ""


def test_checked_in_json_schemas_match_the_models() -> None:
    assert jsonschemas.drift() == [], "run 'tooltrail schemas dump' and commit the result"


def test_drift_is_detected(tmp_path: Path) -> None:
    jsonschemas.write(tmp_path)
    assert jsonschemas.drift(tmp_path) == []
    path = tmp_path / "ToolExecutionEvent.json"
    schema = orjson.loads(path.read_bytes())
    schema["properties"].pop("toolId")
    path.write_bytes(orjson.dumps(schema))
    (tmp_path / "DeadLetter.json").unlink()
    assert sorted(jsonschemas.drift(tmp_path)) == ["DeadLetter.json", "ToolExecutionEvent.json"]


def test_cli_bad_setting_fails_on_stderr_only() -> None:
    env = {"PATH": "", "TOOLTRAIL_FETCH_MAX_WAIT_MS": "0", "HOME": "/tmp"}
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", "settings"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    assert "TOOLTRAIL_FETCH_MAX_WAIT_MS = '0'" in out.stderr


def test_cli_settings_json_masks_secrets() -> None:
    env = {"PATH": "", "HOME": "/tmp", "TOOLTRAIL_CHROMA_TOKEN": "tok-hunter2"}
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", "settings", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    data = orjson.loads(out.stdout)
    assert data["worker"]["TOOLTRAIL_CHROMA_TOKEN"] == "********"
    assert data["producer"]["TOOLTRAIL_ENABLE_INSTRUMENTATION"] is True
    assert "hunter2" not in out.stdout + out.stderr


def test_readme_documents_every_setting() -> None:
    from tooltrail.consumers.app.commands.settings import markdown_table

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = markdown_table()
    missing = [row.split("|")[1].strip() for row in table.splitlines()[2:] if row not in readme]
    assert missing == [], "README settings table is stale: run 'tooltrail settings --markdown'"
