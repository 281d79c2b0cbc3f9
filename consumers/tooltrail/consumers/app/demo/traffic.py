"""Demo traffic: OpenShift-style tool calls, scheduled open loop at a fixed rate.

Calls start on a fixed schedule (``start + i / rate``) whatever earlier calls take, as real
clients do, and run concurrently up to ``MAX_IN_FLIGHT``. When the server cannot keep up, calls
start late; ``achieved_rate`` and ``late`` say so. About a quarter of the calls fail on
purpose (the health check is flaky and a scale request asks for too many replicas), so the
pipeline sees failures too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from tooltrail.producer.recorder import META_KEY

MAX_IN_FLIGHT = 64
NAMESPACES = ("openshift-etcd", "openshift-ingress", "payments", "checkout", "monitoring")
DEMO_CALLS: tuple[tuple[str, Callable[[int], dict[str, Any]]], ...] = (
    ("oc_read_get_pods", lambda i: {"namespace": NAMESPACES[i % len(NAMESPACES)]}),
    ("oc_read_get_events", lambda i: {"namespace": NAMESPACES[(i // 6) % len(NAMESPACES)]}),
    ("oc_read_logs", lambda i: {"namespace": "payments", "pod": f"web-{i % 5}", "tail": 5}),
    ("oc_diagnostic_cluster_health", lambda i: {}),
    ("oc_read_describe_pod", lambda i: {"namespace": "checkout", "pod": f"api-{i % 3}"}),
    (
        "oc_write_scale_deployment",
        lambda i: {"namespace": "checkout", "deployment": "api", "replicas": i % 60},
    ),
)


class Traffic:
    """Demo calls made so far, their outcomes and client-side latencies."""

    def __init__(self) -> None:
        self.calls = 0  # completed
        self.started = 0
        self.errors = 0
        self.late = 0  # calls that started over a second behind their schedule
        self.asked_rate = 0.0
        self.latency_ms: list[float] = []
        self.presearch_calls = 0  # calls that were handed related past memories
        self.presearch_hits = 0  # memories handed over in all
        self._began = self._last_done = time.monotonic()

    @property
    def achieved_rate(self) -> float:
        """Calls completed per second, from the first start to the last completion."""
        return self.calls / max(self._last_done - self._began, 1e-9)

    async def drive(
        self, session: Any, count: int | None, rate: float, stop: asyncio.Event
    ) -> None:
        """Start a call every ``1 / rate`` s until ``count`` calls or ``stop``; wait for them."""
        self.asked_rate, self._began = rate, time.monotonic()
        in_flight: set[asyncio.Task[None]] = set()
        while not stop.is_set() and (count is None or self.started < count):
            delay = self._began + self.started / rate - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            if len(in_flight) >= MAX_IN_FLIGHT:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            self.late += int(delay < -1.0)
            task = asyncio.create_task(self._call(session, self.started))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            self.started += 1
        if in_flight:
            await asyncio.wait(in_flight)

    async def _call(self, session: Any, i: int) -> None:
        name, make_args = DEMO_CALLS[i % len(DEMO_CALLS)]
        t0 = time.perf_counter()
        try:
            result = await session.call_tool(name, make_args(i))
        except Exception:  # noqa: BLE001 - a protocol error is a failed call, not the end
            self.errors += 1
            self.calls += 1
            self._last_done = time.monotonic()
            return
        self.latency_ms.append((time.perf_counter() - t0) * 1000)
        self.calls += 1
        self._last_done = time.monotonic()
        self.errors += int(bool(result.is_error))
        hits = ((result.meta or {}).get(META_KEY) or {}).get("hits") or []
        self.presearch_calls += int(bool(hits))
        self.presearch_hits += len(hits)
