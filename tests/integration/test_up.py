"""``tooltrail up``: the whole pipeline on embedded infrastructure, and no orphans."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
GROUPS = ("metrics", "memory", "enrich")


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TOOLTRAIL_EMBEDDER": "hashing",
        "TOOLTRAIL_DEMO_LATENCY_SCALE": "0",
        "TOOLTRAIL_SESSION_TIMEOUT_MS": "2000",
        "TOOLTRAIL_HEARTBEAT_INTERVAL_MS": "500",
    }


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "(gone)"


def _processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(path).encode() in cmdline:
                found.append(int(entry.name))
    return found


def test_up_demo_events_json_reaches_every_group_and_leaves_no_orphans(tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "--log-level",
        "WARNING",
        "up",
        "--demo",
        "--events",
        "60",
        "--json",
        "--rate",
        "10",
        "--data-dir",
        str(data),
        "--timeout",
        "240",
    ]
    out = subprocess.run(argv, cwd=ROOT, env=_env(tmp_path), capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    result = orjson.loads(out.stdout)
    assert result["events"] == 60
    assert set(result["groups"]) == {"metrics", "memory", "enrich"}
    assert all(g["processed"] >= 60 and g["lag"] == 0 for g in result["groups"].values())
    # situations: only a new situation is embedded (its text is shared by both groups), so
    # far fewer model passes than the 60 calls (the warm-up text counts once)
    embedding = result["embedding"]
    assert 0 < embedding["embedded"] < 30
    # repeated calls (the same health check every 6th call) were handed earlier ones' memories
    presearch = result["presearch"]
    assert 0 < presearch["calls_with_hits"] <= presearch["hits"] <= 3 * presearch["calls_with_hits"]
    assert result["tool_errors"] > 0  # the demo's flaky health check and bad scale requests
    assert list((data / "metrics").glob("metrics-*.jsonl"))
    assert _processes_using(data) == []  # broker, chroma and demo server are gone
    assert_private(data)


def assert_private(root: Path, at_least: int = 10) -> None:
    """Every directory under ``root`` is 0700 and every file 0600 (or stricter)."""
    found = [root, *root.rglob("*")]
    assert len(found) >= at_least
    loose = [
        f"{p.relative_to(root)} {oct(p.stat().st_mode & 0o777)}"
        for p in found
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]
    assert loose == [], loose


def _children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.add(int(entry.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists()}


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "up",
        "--json",
        "--data-dir",
        str(data),
    ]
    parent = subprocess.Popen(
        argv, cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while len(_children_of(parent.pid)) < 2:  # the Tansu broker and the chroma server
            assert time.monotonic() < deadline, "tooltrail up did not start its children"
            time.sleep(0.2)
        children = _children_of(parent.pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(children):
            assert time.monotonic() < deadline, f"orphans left: {_alive(children)}"
            time.sleep(0.2)
        assert _processes_using(data) == []
    finally:
        if parent.poll() is None:
            parent.kill()


def test_up_timeout_prints_the_summary_and_the_reason_and_exits_1(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "--log-level",
        "WARNING",
        "up",
        "--demo",
        "--events",
        "400",
        "--json",
        "--rate",
        "20",
        "--timeout",
        "3",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    out = subprocess.run(argv, cwd=ROOT, env=_env(tmp_path), capture_output=True, timeout=300)
    stderr = out.stderr.decode()
    assert out.returncode == 1, stderr[-2000:]
    result = orjson.loads(out.stdout)
    assert result["error"].startswith("not every group caught up within 3s")
    assert 0 < result["events"] < 400
    assert set(result["groups"]) == {"metrics", "memory", "enrich"}
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("tooltrail: error: not every group")


def test_up_demo_on_an_80_column_terminal_shows_a_table_and_no_json_log_lines(
    tmp_path: Path,
) -> None:
    import fcntl
    import pty
    import re
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = {**_env(tmp_path), "TERM": "xterm-256color", "TOOLTRAIL_DEMO_LATENCY_SCALE": "1"}
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "up",
        "--demo",
        "--rate",
        "20",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"calls at" not in screen.split(b"demo:")[-1]:
            screen += _read(master, 0.5)
        later = time.monotonic() + 4  # a few seconds of traffic, logs included
        while time.monotonic() < later:
            screen += _read(master, 0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        screen += _read(master, 0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert proc.returncode == 0
    assert "tooltrail up" in text
    assert all(name in text for name in ("group", "done", "ev/s", "lag", "dlq", "fresh p50"))
    assert re.search(r"demo: \d+ calls at [\d.]+/s \(asked 20\.0/s\)", text)
    assert "export TOOLTRAIL_KAFKA_BOOTSTRAP=127.0.0.1:" in text  # for a second terminal
    assert '{"ts"' not in text  # no JSON log line tore through the table
    assert " INFO " not in text  # nor internal progress: the table says it
    # every line fits, but the ones to copy whole, which hold the test's long temporary path
    to_copy = ("  export TOOLTRAIL_", "kafka 127.0.0.1:")
    wide = [line for line in text.splitlines() if len(line) > 80 and not line.startswith(to_copy)]
    assert wide == []
    # Ctrl-C: the table is replaced by one summary of the run
    summary = text[text.rindex("stopped after") :]
    assert re.search(r"demo: \d+ calls at", summary)
    assert all(re.search(rf"^{g} +\d+ done, lag \d+", summary, re.M) for g in GROUPS)
    assert "tooltrail infra" in summary  # how to keep the broker and Chroma next time


def _read(fd: int, wait: float) -> bytes:
    import select

    data = b""
    end = time.monotonic() + wait
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_up_without_a_terminal_prints_a_plain_status_line(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "up",
        "--demo",
        "--rate",
        "5",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    err = tmp_path / "stderr.txt"
    env = {**_env(tmp_path), "TOOLTRAIL_UP_STATUS_INTERVAL_S": "1"}  # 10 s by default
    with err.open("wb") as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        try:
            deadline = time.monotonic() + 90
            while (
                time.monotonic() < deadline and len(re.findall(r"demo: [1-9]", err.read_text())) < 3
            ):
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = err.read_text().splitlines()
    status = [line for line in lines if " | demo: " in line]
    assert status, lines[-20:]
    assert status[0].startswith("metrics ")
    assert " done lag " in status[0]
    exports = [line for line in lines if line.startswith("  export TOOLTRAIL_")]
    assert [line.split("=")[0] for line in exports] == [
        "  export TOOLTRAIL_KAFKA_BOOTSTRAP",
        "  export TOOLTRAIL_CHROMA_URL",
        "  export TOOLTRAIL_METRICS_DIR",
        "  export TOOLTRAIL_ENRICHMENT_KEY_FILE",  # tool servers verify entries with it
    ]
    assert all(
        line.startswith(("{", "kafka ", "In another terminal", "  tooltrail stats"))
        or line in status + exports
        for line in lines
        if line.strip()
    )  # JSON logs, how to reach the pipeline and status lines, nothing else


def test_after_the_demo_infra_keeps_the_data_for_the_operator_commands(tmp_path: Path) -> None:
    """README, 'After the demo': infra → export → up → stats, dlq, memory search, export."""
    data = tmp_path / "data"
    env = _env(tmp_path)
    cli = [sys.executable, "-m", "tooltrail.consumers.app.cli"]
    infra_log = (tmp_path / "infra-stderr.txt").open("wb")
    infra = subprocess.Popen(
        [*cli, "infra", "--data-dir", str(data)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=infra_log,
        text=True,
    )
    try:
        assert infra.stdout is not None
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 90
        while len(exports) < 4:
            assert time.monotonic() < deadline, "infra printed no export lines"
            line = infra.stdout.readline()
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        assert set(exports) == {
            "TOOLTRAIL_KAFKA_BOOTSTRAP",
            "TOOLTRAIL_CHROMA_URL",
            "TOOLTRAIL_METRICS_DIR",
            "TOOLTRAIL_ENRICHMENT_KEY_FILE",
        }
        key_file = Path(exports["TOOLTRAIL_ENRICHMENT_KEY_FILE"])
        assert key_file == (data / "enrichment.key").absolute()
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert len(key_file.read_text().strip()) == 64
        operator = {**env, **exports}

        def run(*argv: str) -> str:
            out = subprocess.run(
                [*cli, "--log-level", "WARNING", *argv],
                cwd=tmp_path,
                env=operator,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert out.returncode == 0, (argv, out.stderr[-2000:])
            return out.stdout

        demo = orjson.loads(
            run(
                "up",
                "--demo",
                "--events",
                "300",
                "--rate",
                "100",
                "--json",
                "--data-dir",
                str(data),
            )
        )
        assert demo["events"] == 300
        assert infra.poll() is None  # up used the running broker and Chroma and left them be

        stats = orjson.loads(run("stats", "--json"))
        for group in stats["groups"].values():
            assert group["lag"] == 0
            assert sum(p["committed"] or 0 for p in group["partitions"]) >= 300
        text = run("stats")
        assert "committed None" not in text
        # one stdio session keys every call to one partition: the others have no commit yet
        idle = sum(
            p["committed"] is None for g in stats["groups"].values() for p in g["partitions"]
        )
        assert text.count("nothing committed yet") == idle
        assert orjson.loads(run("dlq", "list", "--json")) == []
        found = orjson.loads(run("memory", "search", "cluster health check", "--json"))
        assert len(found) == 3  # the demo's memories are in the Chroma that outlived 'up'
        assert len({h["id"] for h in found}) == len({h["summary"] for h in found}) == 3
        memories = orjson.loads(run("memory", "stats", "--json"))
        [info] = memories.values()
        assert info["count"] <= 60  # one memory per situation: far fewer than the 300 calls
        out = run("metrics", "export", "--out", str(tmp_path / "metrics.json"))
        count = len(orjson.loads((tmp_path / "metrics.json").read_bytes()))
        assert out.strip() == f"wrote {count} record(s) to {tmp_path / 'metrics.json'}"
        assert count == 300
    finally:
        infra.send_signal(signal.SIGINT)
        try:
            try:
                code = infra.wait(60)
            except subprocess.TimeoutExpired:  # say what it was doing and what is left
                left = {pid: _cmdline(pid) for pid in _processes_using(data)}
                tail = (tmp_path / "infra-stderr.txt").read_text(errors="replace")[-3000:]
                raise AssertionError(f"infra did not stop: {left}\n{tail}") from None
            assert code == 0
        finally:
            infra_log.close()
            if infra.poll() is None:
                infra.kill()
                infra.wait()
            if infra.stdout is not None:
                infra.stdout.close()
    assert _processes_using(data) == []
