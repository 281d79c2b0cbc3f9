"""Realistic SRE tool traffic for ``tooltrail bench situations`` (seeded, deterministic).

Not the demo: a real cluster's cardinality. 40 namespaces of 2-4 deployments each; pods named
``<deployment>-<ReplicaSet hash>-<pod hash>`` in Kubernetes' own alphabet, rolled now and then;
log lines with timestamps, request ids, client IPs and durations; events with reasons and
counts; a few recurring incidents (an OOM-killed JVM with the ``OutOfMemoryError`` at the log's
tail, a database refusing connections, an image that cannot be pulled, a node under disk
pressure) inside routine noise; about 21 % of calls fail outright or report trouble.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Call", "traffic"]
_KUBE = "bcdfghjklmnpqrstvwxz2456789"
_TEAMS = ("payments", "checkout", "search", "catalog", "identity", "billing", "ledger", "media")
_TIERS = ("prod", "stage", "canary", "batch", "edge")
_APPS = ("api", "worker", "gateway", "cache", "db-proxy", "scheduler", "web", "indexer")
_TOOLS = ("oc_read_get_pods", "oc_read_logs", "oc_read_get_events", "oc_read_describe_pod")
_ROUTINE_LOG = (
    "INFO handled GET /v1/{what} status=200 in {ms}ms request_id={rid} client={ip}",
    "INFO cache refresh done: {n} keys in {ms}ms",
    "DEBUG pool stats active={n} idle={m} waiting=0",
    "INFO consumer lag partition={m} offset={big}",
)
_REASONS_OK = ("Scheduled", "Pulled", "Created", "Started", "SuccessfulCreate")
_ERRORS = (
    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
    'pods "{pod}" is forbidden: User "system:serviceaccount:{ns}:agent" cannot get resource',
    'pods "{pod}" not found',
    "Internal error occurred: etcdserver: request timed out",
)


@dataclass(frozen=True)
class Call:
    """One generated tool call: what the agent asked and what came back."""

    tool: str
    args: dict[str, Any]
    session: str
    ok: bool
    result: str | None
    error: str | None


def _hash(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_KUBE) for _ in range(n))


class _Cluster:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.namespaces = [f"{t}-{tier}" for t in _TEAMS for tier in _TIERS][:40]
        self.apps = {ns: rng.sample(_APPS, rng.randint(2, 4)) for ns in self.namespaces}
        self.rs = {(ns, a): _hash(rng, 10) for ns in self.namespaces for a in self.apps[ns]}
        #: recurring incidents: (namespace, app) -> kind
        picks = rng.sample(self.namespaces, 4)
        self.incidents = {
            (picks[0], self.apps[picks[0]][0]): "oom",
            (picks[1], self.apps[picks[1]][0]): "db",
            (picks[2], self.apps[picks[2]][0]): "image",
            (picks[3], self.apps[picks[3]][0]): "disk",
        }

    def pod(self, ns: str, app: str) -> str:
        if self.rng.random() < 0.01:  # a rollout: a new ReplicaSet
            self.rs[(ns, app)] = _hash(self.rng, 10)
        return f"{app}-{self.rs[(ns, app)]}-{_hash(self.rng, 5)}"

    def stamp(self, at: datetime) -> str:
        when = at + timedelta(milliseconds=self.rng.randrange(60_000))
        return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def ip(self) -> str:
        return f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(256)}"

    def log_line(self, at: datetime) -> str:
        r = self.rng
        line = r.choice(_ROUTINE_LOG).format(
            what=r.choice(("orders", "users", "items", "quotes")),
            ms=r.randrange(2, 900),
            rid=f"{r.getrandbits(64):016x}",
            ip=self.ip(),
            n=r.randrange(1, 5000),
            m=r.randrange(0, 12),
            big=r.randrange(10**6, 10**9),
        )
        return f"{self.stamp(at)} {line}"


def _logs(c: _Cluster, ns: str, app: str, pod: str, at: datetime, incident: str | None) -> str:
    lines = [c.log_line(at) for _ in range(c.rng.randint(8, 20))]
    if incident == "oom":
        lines += [
            f"{c.stamp(at)} WARN GC overhead limit approaching: heap {c.rng.randrange(90, 99)}%",
            f'{c.stamp(at)} ERROR Exception in thread "worker-{c.rng.randrange(64)}" '
            "java.lang.OutOfMemoryError: Java heap space",
        ]
    elif incident == "db":
        lines.append(
            f"{c.stamp(at)} ERROR db pool: connect to {c.ip()}:5432 failed: connection refused "
            f"(attempt {c.rng.randrange(1, 6)}/5) request_id={c.rng.getrandbits(64):016x}"
        )
    return "\n".join(lines)


def _pods(c: _Cluster, ns: str, at: datetime) -> str:
    rows = ["NAME READY STATUS RESTARTS AGE"]
    for app in c.apps[ns]:
        state = {"oom": "OOMKilled", "image": "ImagePullBackOff"}.get(
            c.incidents.get((ns, app), ""), "Running"
        )
        for _ in range(c.rng.randint(1, 3)):
            ready = "0/1" if state != "Running" else "1/1"
            age = f"{c.rng.randrange(1, 300)}m"
            rows.append(f"{c.pod(ns, app)} {ready} {state} {c.rng.randrange(0, 40)} {age}")
    return "\n".join(rows)


def _events(c: _Cluster, ns: str, at: datetime) -> str:
    rows = ["LAST SEEN TYPE REASON OBJECT MESSAGE"]
    for app in c.apps[ns]:
        pod = c.pod(ns, app)
        kind = c.incidents.get((ns, app))
        if kind == "image":
            rows.append(
                f"{c.rng.randrange(1, 59)}s Warning Failed pod/{pod} ErrImagePull: "
                f"manifest unknown for registry.local/{app}:v{c.rng.randrange(2, 9)}"
            )
        elif kind == "disk":
            rows.append(
                f"{c.rng.randrange(1, 59)}s Warning Evicted pod/{pod} The node was low on "
                f"resource: ephemeral-storage. Usage {c.rng.randrange(1, 9)}Gi"
            )
        else:
            rows.append(
                f"{c.rng.randrange(1, 59)}m Normal {c.rng.choice(_REASONS_OK)} pod/{pod} "
                f"(x{c.rng.randrange(1, 30)})"
            )
    return "\n".join(rows)


def traffic(n: int, seed: int = 26, start: datetime | None = None) -> Iterator[Call]:
    """``n`` calls of realistic traffic (the same for the same seed)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
    c = _Cluster(rng)
    at = start or datetime(2026, 12, 1, tzinfo=UTC)
    hot = list(c.incidents)
    for _i in range(n):
        if rng.random() < 0.12:  # agents keep coming back to what is on fire
            ns, app = rng.choice(hot)
        else:
            ns = rng.choice(c.namespaces)
            app = rng.choice(c.apps[ns])
        tool = rng.choice(_TOOLS)
        pod = c.pod(ns, app)
        session = f"sess-{rng.randrange(200):03d}"
        incident = c.incidents.get((ns, app))
        if rng.random() < 0.12:  # the call itself fails
            error = rng.choice(_ERRORS).format(pod=pod, ns=ns)
            yield Call(tool, {"namespace": ns, "pod": pod}, session, False, None, error)
            continue
        if tool == "oc_read_logs":
            args = {"namespace": ns, "pod": pod, "tail": 100}
            result = _logs(c, ns, app, pod, at, incident)
        elif tool == "oc_read_get_pods":
            args, result = {"namespace": ns}, _pods(c, ns, at)
        elif tool == "oc_read_get_events":
            args, result = {"namespace": ns}, _events(c, ns, at)
        else:
            args = {"namespace": ns, "pod": pod}
            state = {"oom": "Terminated: OOMKilled (exit code 137)"}.get(incident or "", "Running")
            node = "ip-" + c.ip().replace(".", "-")
            result = f"Name: {pod}\nNamespace: {ns}\nIP: {c.ip()}\nState: {state}\nNode: {node}"
        yield Call(tool, args, session, True, result, None)
        at += timedelta(milliseconds=rng.randrange(5, 60))
