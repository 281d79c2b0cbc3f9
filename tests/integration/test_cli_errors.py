"""Every failure a user can cause ends in one line on stderr, with exit 2 (usage, settings)
or 1 (runtime): the real command, with bad input, never a traceback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tooltrail.consumers import TopicSpec, ensure_topics
from tooltrail.consumers.app.launcher import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
DEAD_KAFKA = {
    "TOOLTRAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    "TOOLTRAIL_KAFKA_TIMEOUT_S": "2",
}

CASES = [
    (["dlq", "show"], {}, 2, "the following arguments are required: PARTITION:OFFSET"),
    (["dlq", "show", "garbage"], {}, 2, "'garbage' is not a dead letter reference"),
    (["dlq", "replay"], {}, 2, "the following arguments are required"),
    (["replay", "memory", "--since", "notatime"], {}, 2, "--since 'notatime' is not an ISO 8601"),
    (["replay", "memory", "--since", "2026-01-01T00:00:00"], {}, 2, "needs a timezone"),
    (["replay", "memory", "--offsets", "x"], DEAD_KAFKA, 2, "--offsets 'x': expected PARTITION"),
    (["metrics", "export", "--out", "x.json", "--since", "yesterday"], {}, 2, "'yesterday'"),
    (["memory", "search", "hello"], {}, 2, "TOOLTRAIL_CHROMA_URL"),
    (
        ["memory", "stats"],
        {"TOOLTRAIL_CHROMA_URL": f"http://127.0.0.1:{free_port()}"},
        1,
        "cannot reach Chroma at http://127.0.0.1:",
    ),
    (["stats"], DEAD_KAFKA, 1, "cannot reach Kafka at 127.0.0.1:"),
    (["dlq", "list"], DEAD_KAFKA, 1, "cannot reach Kafka at 127.0.0.1:"),
    (
        ["settings"],
        {"TOOLTRAIL_KAFKA_BOOTSTRAP": "nonsense"},
        2,
        "TOOLTRAIL_KAFKA_BOOTSTRAP = 'nonsense': expected host:port",
    ),
    (["settings"], {"TOOLTRAIL_KAFKA_BOOTSTRAP": "host:notaport"}, 2, "expected host:port"),
    (["worker", "nope"], {}, 2, "invalid choice: 'nope'"),
    (["up", "--events", "5"], {}, 2, "--events counts demo calls: add --demo"),
    (["up", "--rate", "0"], {}, 2, "'0' must be greater than 0"),
    (["bench", "emit", "--events"], {}, 2, "unrecognized arguments: --events"),
    (["--log-level", "LOUD", "stats"], {}, 2, "invalid choice: 'LOUD'"),
    # the first hour's stumbles (issue 31): each one line, usage errors exit 2
    (["metrics", "export", "--out", "/"], {}, 2, "--out '/' is a directory: give a file"),
    (["metrics", "export", "--out", "."], {}, 2, "--out '.' is a directory: give a file"),
    (["metrics", "export", "--out", "nope/m.json"], {}, 2, "the directory 'nope' does not exist"),
    (["memory", "search", ""], {}, 2, "'' is empty: give some text"),
    (["memory", "search", "  "], {}, 2, "'  ' is empty: give some text"),
    (["dlq", "show", "-1:0"], {}, 2, "'-1:0' is not a dead letter reference"),
    (["dlq", "replay", "-3:1"], {}, 2, "'-3:1' is not a dead letter reference"),
    (
        ["memory", "stats"],
        {"TOOLTRAIL_CHROMA_URL": "htp:/chroma"},
        2,
        "TOOLTRAIL_CHROMA_URL = 'htp:/chroma': not of the allowed form: Chroma server URL, e.g.",
    ),
    (["stats"], DEAD_KAFKA, 1, "point TOOLTRAIL_KAFKA_BOOTSTRAP at a broker"),
    # the enrich group signs what tool servers trust: no key, no start (README "Trust model")
    (
        ["worker", "enrich"],
        {**DEAD_KAFKA, "TOOLTRAIL_CHROMA_URL": f"http://127.0.0.1:{free_port()}"},
        2,
        "the enrich group signs its entries: set TOOLTRAIL_ENRICHMENT_KEY",
    ),
    (["settings"], {"TOOLTRAIL_ENRICHMENT_KEY": "short"}, 2, "at least 32 characters"),
]


@pytest.mark.parametrize(("args", "env", "code", "message"), CASES)
def test_a_bad_input_gives_one_line_and_the_right_exit_code(
    args: list[str], env: dict[str, str], code: int, message: str, tmp_path: Path
) -> None:
    full_env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), **env}
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr
    assert len(lines) == 1, out.stderr
    assert message in lines[0]
    assert lines[0].startswith("tooltrail")
    assert "^" not in lines[0]  # never a raw regex
    assert ".tmp" not in lines[0]  # never a file the user did not name
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["dlq", "show", "-1:0", "--json"], {}, 2),
        (["dlq", "replay", "--json"], {}, 2),
        (["stats", "--json"], DEAD_KAFKA, 1),
        (["memory", "search", "", "--json"], {}, 2),
        (["settings", "--json"], {"TOOLTRAIL_KAFKA_BOOTSTRAP": "nonsense"}, 2),
    ],
)
def test_an_error_under_json_is_a_json_object_on_stdout(
    args: list[str], env: dict[str, str], code: int, tmp_path: Path
) -> None:
    full_env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), **env}
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    [line] = out.stderr.strip().splitlines()
    assert out.returncode == code
    assert orjson.loads(out.stdout) == {"error": line, "exitCode": code}


def test_references_to_partitions_that_do_not_exist_are_usage_errors(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_DLQ_TOPIC": names.dlq,
        "TOOLTRAIL_KAFKA_TIMEOUT_S": "10",
    }
    asyncio.run(
        ensure_topics(
            {"bootstrap_servers": kafka.bootstrap},
            [TopicSpec(names.events, 2), TopicSpec(names.dlq, 1)],
        )
    )
    for args, message in (
        (["replay", "memory", "--offsets", "9:0", "--dry-run"], "partitions that do not exist"),
        (["dlq", "show", "99:99"], "has no partition 99"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "tooltrail.consumers.app.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        [line] = out.stderr.strip().splitlines()
        assert (out.returncode, message in line) == (2, True), out.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), **DEAD_KAFKA}
    argv = [sys.executable, "-m", "tooltrail.consumers.app.cli", "--debug", "stats"]
    out = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Traceback" in out.stderr
