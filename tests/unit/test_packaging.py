"""Package hygiene: light producer import, schema snapshots in sync, a quiet CLI."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import orjson

from tooltrail.schemas import jsonschemas

ROOT = Path(__file__).parents[2]


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


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_build_needs_a_setuptools_that_knows_license_expressions() -> None:
    requires = _pyproject()["build-system"]["requires"]
    [setuptools] = [r for r in requires if r.startswith("setuptools")]
    minimum = setuptools.split(">=")[1]
    assert tuple(int(x) for x in minimum.split(".")) >= (77,)  # PEP 639 support


def test_the_license_is_an_spdx_expression_with_its_text_shipped() -> None:
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    files = project["license-files"]
    assert files
    assert all((ROOT / f).is_file() for f in files)
    text = (ROOT / files[0]).read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    # the top level of the repository is fixed: no LICENSE beside pyproject.toml
    assert not (ROOT / "LICENSE").exists()


def test_classifiers_are_known_trove_classifiers_and_urls_are_https() -> None:
    from trove_classifiers import classifiers as known

    project = _pyproject()["project"]
    assert set(project["classifiers"]) <= known, set(project["classifiers"]) - known
    # with a license expression, PEP 639 forbids License :: classifiers
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
    assert all(url.startswith("https://") for url in project["urls"].values())


def test_installed_metadata_carries_license_urls_and_classifiers() -> None:
    from importlib import metadata

    meta = metadata.metadata("tooltrail")
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == _pyproject()["project"]["license-files"]
    assert len(meta.get_all("Project-URL") or []) == len(_pyproject()["project"]["urls"])
    assert set(meta.get_all("Classifier") or []) == set(_pyproject()["project"]["classifiers"])
