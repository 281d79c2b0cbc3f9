"""The CLI's conventions without a broker: usage errors, ``--json`` errors, completion, output.

Each test runs the real ``main`` (in-process or as ``python -m``) on what a user types.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tooltrail.consumers.app.cli import build_parser, main
from tooltrail.consumers.app.commands.completion import completion_words
from tooltrail.consumers.app.commands.ops import export_target
from tooltrail.consumers.app.commands.settings import shown
from tooltrail.consumers.errors import UsageError

ROOT = Path(__file__).parents[2]


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "", "HOME": "/tmp", "TOOLTRAIL_KAFKA_TIMEOUT_S": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", *argv],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize("ref", ["-1:0", "-7:-2", "-0:1"])
def test_a_negative_reference_is_a_bad_reference_not_a_missing_argument(
    ref: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "show", ref]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"tooltrail: error: {ref!r} is not a dead letter reference: "
        "expected PARTITION:OFFSET, e.g. 0:17\n"
    )


def test_a_usage_error_under_json_is_also_json_on_stdout() -> None:
    out = _run("dlq", "show", "--json")
    assert out.returncode == 2
    [line] = out.stderr.splitlines()
    assert "the following arguments are required: PARTITION:OFFSET" in line
    assert orjson.loads(out.stdout) == {"error": line, "exitCode": 2}


def test_a_runtime_error_under_json_is_json_on_stdout_and_one_line_on_stderr() -> None:
    out = _run("stats", "--json", env={"TOOLTRAIL_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    assert out.returncode == 1
    [line] = out.stderr.splitlines()
    assert line.startswith("tooltrail: error: cannot reach Kafka at 127.0.0.1:9")
    assert "TOOLTRAIL_KAFKA_BOOTSTRAP" in line
    assert "tooltrail infra" in line  # how to point it at one
    assert orjson.loads(out.stdout) == {"error": line, "exitCode": 1}


def test_without_json_stdout_stays_empty_on_errors() -> None:
    out = _run("dlq", "show")
    assert out.returncode == 2
    assert out.stdout == ""


@pytest.mark.parametrize("out", ["/", ".", "..", "/tmp", "/tmp/"])
def test_export_to_a_directory_names_the_argument(out: str) -> None:
    with pytest.raises(UsageError, match=r"--out '.*' is a directory: give a file"):
        export_target(Path(out))


def test_export_into_a_missing_directory_names_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"the directory '.*/nope' does not exist"):
        export_target(tmp_path / "nope" / "m.json")
    assert export_target(tmp_path / "m.json") == tmp_path / "m.json"


def test_metrics_export_to_root_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = _run("metrics", "export", "--out", "/", env={"TOOLTRAIL_METRICS_DIR": str(tmp_path)})
    assert out.returncode == 2
    assert out.stderr == (
        "tooltrail: error: --out '/' is a directory: give a file, e.g. metrics.json\n"
    )


def test_settings_text_has_no_none_or_empty_tuple_and_each_variable_once() -> None:
    out = _run("settings", env={"TOOLTRAIL_INSTRUMENT_ALLOWLIST": "a,b"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert not [line for line in lines if line.endswith((" None", " ()", " []", "= "))]
    names = [line.split(" = ")[0].strip() for line in lines if " = " in line]
    assert len(names) == len(set(names))  # the shared Kafka settings are printed once
    assert "  TOOLTRAIL_INSTRUMENT_ALLOWLIST = a,b" in lines
    assert "  TOOLTRAIL_ENABLE_INSTRUMENTATION = true" in lines
    assert any("more not set" in line for line in lines)


@given(st.lists(st.text(alphabet="abc-_", min_size=1, max_size=5), max_size=4))
def test_a_sequence_is_shown_as_the_environment_takes_it(items: list[str]) -> None:
    assert shown(tuple(items)) == ",".join(items)
    assert shown(True) == "true"


def test_completion_offers_every_sub_command_and_its_options() -> None:
    table = completion_words(build_parser())
    assert {"up", "worker", "stats", "dlq", "completion"} <= set(table[""])
    assert set(table["dlq"]) >= {"list", "show", "replay"}
    assert "--json" in table["dlq show"]
    assert {"metrics", "memory", "enrich", "all"} <= set(table["worker"])


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("tooltrail dl", {"dlq"}),
        ("tooltrail dlq ", {"--help", "list", "show", "replay"}),
        ("tooltrail dlq show --j", {"--json"}),
        ("tooltrail --log-level INFO worker m", {"metrics", "memory"}),
        ("tooltrail up --d", {"--demo", "--data-dir"}),
    ],
)
def test_the_bash_completion_script_completes_in_bash(line: str, expected: set[str]) -> None:
    script = _run("completion", "bash").stdout
    words = line.split(" ")
    probe = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _tooltrail; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == expected


def test_zsh_completion_loads_bash_compatibility_first() -> None:
    out = _run("completion", "zsh")
    assert out.stdout.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    assert "complete -o default -F _tooltrail tooltrail" in out.stdout


@pytest.mark.parametrize(
    ("words", "module"),
    [
        (["stats"], "ops"),
        (["--log-level", "DEBUG", "metrics", "export"], "ops"),
        (["--log-level=DEBUG", "memory", "search", "x"], "memory"),
        (["--debug", "demo-server"], "demo"),
        (["settings", "--help"], "settings"),
        (["--help", "stats"], None),  # the top-level help lists every command
        (["-h"], None),
        ([], None),
        (["stst"], None),  # an unknown word: the error lists every command
        (["--log-level", "stats"], None),  # 'stats' is the option's (bad) value here
    ],
)
def test_only_the_named_command_s_module_is_loaded(words: list[str], module: str | None) -> None:
    from tooltrail.consumers.app.cli import command_module

    assert command_module(words) == module


def test_a_light_command_does_not_import_chroma_numpy_or_the_embedders() -> None:
    probe = (
        "import sys\n"
        "from tooltrail.consumers.app.cli import build_parser\n"
        "args = build_parser(['stats', '--json']).parse_args(['stats', '--json'])\n"
        "assert args.command == 'stats', args\n"
        "print(sorted(m for m in ('chromadb', 'numpy', 'onnxruntime') if m in sys.modules))\n"
        "build_parser(['memory', 'stats'])\n"
        "print('chromadb' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[:2] == ["[]", "True"]  # memory's commands do need them


def test_a_named_command_parses_as_with_every_command_loaded() -> None:
    words = ["--log-level", "WARNING", "dlq", "list", "--json"]
    full, named = build_parser().parse_args(words), build_parser(words).parse_args(words)
    assert {k: v for k, v in vars(full).items() if k != "handler"} == {
        k: v for k, v in vars(named).items() if k != "handler"
    }
    assert full.handler.__qualname__ == named.handler.__qualname__


@pytest.mark.parametrize(("value", "reason"), [("0", "must be greater than 0"), ("x", "whole")])
def test_bench_emit_refuses_a_bad_number_of_rounds(value: str, reason: str) -> None:
    out = _run("bench", "emit", "--rounds", value)
    assert out.returncode == 2
    [line] = out.stderr.splitlines()
    assert "--rounds" in line
    assert reason in line
