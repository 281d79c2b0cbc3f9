"""Fake OpenShift diagnostics tools with realistic payloads, latencies and failures.

Results are deterministic functions of the arguments and of the call count, so an
instrumented and an uninstrumented server answer the same call sequence identically.
Latency is ``scale`` times a per-tool base (``TOOLTRAIL_DEMO_LATENCY_SCALE``, 0 for benchmarks).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import Counter

from tooltrail.consumers.app.app_settings import app_settings

_calls: Counter[str] = Counter()
NAMESPACES = ("openshift-etcd", "openshift-ingress", "payments", "checkout", "monitoring")
_BASE_MS = {"get_pods": 8, "describe_pod": 12, "logs": 25, "health": 40, "events": 10, "scale": 30}


_latency_scale: float | None = None  # TOOLTRAIL_DEMO_LATENCY_SCALE, read on first use


def set_latency_scale(scale: float | None) -> None:
    """Override the fake latencies' scale in this process (``None``: read the setting again)."""
    global _latency_scale  # one process-wide knob of the demo server
    _latency_scale = scale


def _scale() -> float:
    global _latency_scale
    if _latency_scale is None:
        _latency_scale = app_settings().demo_latency_scale
    return _latency_scale


async def _work(kind: str) -> None:
    delay = _BASE_MS[kind] * _scale() / 1000
    if delay > 0:
        await asyncio.sleep(delay)


def _pods(namespace: str) -> list[tuple[str, str, int]]:
    seed = int(hashlib.sha256(namespace.encode()).hexdigest()[:8], 16)
    states = ("Running", "Running", "Running", "CrashLoopBackOff", "Pending", "OOMKilled")
    return [
        (
            f"{namespace.split('-')[-1]}-{(seed >> i) % 9000 + 1000:x}",
            states[(seed >> (2 * i)) % 6],
            (seed >> (3 * i)) % 12,
        )
        for i in range(3 + seed % 4)
    ]


class ToolFailure(Exception):
    """A tool-level failure (the SDKs turn it into an ``isError`` result)."""


async def oc_read_get_pods(
    namespace: str, selector: str | None = None, auth_token: str | None = None
) -> str:
    """List pods in a namespace with status and restart counts."""
    await _work("get_pods")
    if namespace not in NAMESPACES:
        raise ToolFailure(f'namespaces "{namespace}" not found')
    rows = [f"{n:<24} {s:<18} restarts={r}" for n, s, r in _pods(namespace)]
    return f"NAME{' ' * 20} STATUS{' ' * 12} (selector={selector or '-'})\n" + "\n".join(rows)


async def oc_read_describe_pod(namespace: str, pod: str) -> str:
    """Describe one pod: conditions, last state and recent events."""
    await _work("describe_pod")
    match = [p for p in _pods(namespace) if p[0] == pod] if namespace in NAMESPACES else []
    if not match:
        raise ToolFailure(f'pods "{pod}" not found in namespace {namespace}')
    name, state, restarts = match[0]
    reason = {"CrashLoopBackOff": "Error (exit code 1)", "OOMKilled": "OOMKilled (exit code 137)"}
    head = f"Name: {name}\nNamespace: {namespace}\nStatus: {state}"
    if state == "Running":
        return head
    return (
        f"{head}\nRestart Count: {restarts}\nLast State: {reason.get(state, 'none')}\n"
        "Events: Back-off restarting failed container"
    )


async def oc_read_logs(namespace: str, pod: str, tail: int = 20) -> str:
    """Tail a pod's logs (the fake app leaks a token into its logs: it must be redacted)."""
    await _work("logs")
    lines = [f"2026-11-23T10:00:{i:02d}Z INFO {pod} handled request id={i}" for i in range(tail)]
    lines.append(
        "2026-11-23T10:01:00Z WARN retrying with Authorization: Bearer sk-demo0leak0token0000"
    )
    return "\n".join(lines[-tail:])


async def oc_diagnostic_cluster_health() -> str:
    """Check etcd, API server and ingress health; fails on every third call (flaky etcd)."""
    await _work("health")
    _calls["health"] += 1
    if _calls["health"] % 3 == 0:
        raise ToolFailure("etcd member etcd-2 unhealthy: context deadline exceeded")
    return "etcd: healthy (3/3)\napiserver: healthy\ningress: degraded (1 router pod pending)"


async def oc_read_get_events(namespace: str) -> str:
    """Recent warning events in a namespace."""
    await _work("events")
    bad = [p for p in _pods(namespace) if p[1] != "Running"] if namespace in NAMESPACES else []
    return "\n".join(f"Warning BackOff pod/{n} {s}" for n, s, _ in bad) or "No warning events"


async def oc_write_scale_deployment(namespace: str, deployment: str, replicas: int) -> str:
    """Scale a deployment (dry run: reports what would change)."""
    await _work("scale")
    if not 0 <= replicas <= 50:
        raise ToolFailure(f"replicas must be between 0 and 50, got {replicas}")
    return f"deployment.apps/{deployment} scaled to {replicas} in {namespace} (dry run)"


def demo_secret(name: str) -> dict[str, str]:
    """The fake credentials of secret ``name`` (deterministic, so tests can look for them)."""
    digest = hashlib.sha256(name.encode()).digest()
    key = base64.b64encode(digest * 3).decode()
    return {
        "password": "Pw-" + digest.hex()[:20],
        "token": "sha256~" + base64.urlsafe_b64encode(digest + digest[:2]).decode().rstrip("="),
        "pem": "-----BEGIN RSA PRIVATE KEY-----\n" + key + "\n-----END RSA PRIVATE KEY-----",
    }


async def oc_read_get_secret(namespace: str, name: str) -> str:
    """Show a Secret as ``oc get secret -o yaml`` does (base64 data: it must be redacted).

    A name starting with ``forbidden`` fails the way RBAC does, echoing the caller's token.
    """
    await _work("describe_pod")
    fake = demo_secret(name)
    if name.startswith("forbidden"):
        who = f'User "system:serviceaccount:ci:bot" (token {fake["token"]})'
        raise ToolFailure(f'secrets "{name}" is forbidden: {who} cannot get secrets in {namespace}')
    data = {"username": "app", "password": fake["password"], "tls.key": fake["pem"]}
    lines = [f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in data.items()]
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: "
        f"{namespace}\ntype: Opaque\ndata:\n" + "\n".join(lines)
    )


TOOLS = (
    oc_read_get_pods,
    oc_read_describe_pod,
    oc_read_logs,
    oc_diagnostic_cluster_health,
    oc_read_get_events,
    oc_write_scale_deployment,
    oc_read_get_secret,
)
