"""What instrumenting an MCP server costs: tooltrail against OpenTelemetry as deployed.

One process, one MCP server per variant, the SDK's own in-memory client, interleaved
rounds (the order rotates each round so no variant always runs first):

* ``plain``: the server with its OpenTelemetry instrumentation removed (mcp SDK: its
  ``OpenTelemetryMiddleware`` taken out of the chain; fastmcp: ``telemetry_mode="off"``);
* ``otel_otlp``: the SDK's own instrumentation (mcp: its middleware; fastmcp: native
  telemetry) with a real ``opentelemetry-sdk`` ``TracerProvider``, ``BatchSpanProcessor``
  and **OTLP/gRPC exporter to a loopback receiver in its own process**
  (``otlp_receiver``, a collector stand-in): OpenTelemetry as users deploy it;
* ``otel_noop``: the same with a no-op exporter (what the span machinery alone costs);
* ``tooltrail_up``: ``plain`` plus the tooltrail middleware, the broker up;
* ``tooltrail_down``: the same with Kafka unreachable (every event goes to the outbox).

Per round: round-trip p50/p99 of each call, and the tool server process's CPU time per call
(every thread: the sender, the span processor and exporter), counted until the round's
background work is done (events sent or spilled, spans exported). Reported: medians over
rounds of each figure and of its difference to ``plain`` in the same round, plus p99.9 and
max over all calls of a variant. The in-memory client's own spans (kind CLIENT) are created
in every variant alike and exported in none: they belong to the harness, not the server.

**Against OpenTelemetry directly** (``versus``): each tooltrail variant's figure minus
``otel_otlp``'s in the same round (the plain server cancels out), as the median over rounds,
the number of rounds in which tooltrail's was not higher, and a 90 % bootstrap interval of
that median (resampled rounds, fixed seed). A goal read from two medians of noisy rounds can
flip between runs of the same code; the interval says how far one run can be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.bench.common import median, pct, until
from tooltrail.consumers.app.demo.tools import set_latency_scale
from tooltrail.consumers.app.launcher import free_port
from tooltrail.producer.emitter import TrailProducer

VARIANTS = ("plain", "otel_otlp", "otel_noop", "tooltrail_up", "tooltrail_down")
OTEL = ("otel_otlp", "otel_noop")
OURS = ("tooltrail_up", "tooltrail_down")
PEER = "otel_otlp"
_RESAMPLES = 2000
_switch: Any = None


@contextlib.contextmanager
def otlp_receiver() -> Iterator[tuple[int, list[int]]]:
    """A loopback OTLP/gRPC receiver in its own process: its port, and (after exit) the number
    of spans it received."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tooltrail.consumers.app.bench.otlp_receiver", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    received: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield port, received
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        with contextlib.suppress(ValueError):
            received.append(int(out.strip() or 0))


def _otel_switch(otlp_port: int) -> Any:
    """The process-wide SDK ``TracerProvider`` (one per process), whose one span processor
    hands server spans to the batch processor of the variant being measured: OTLP/gRPC to the
    loopback receiver, or a no-op exporter; CLIENT spans (the harness) go nowhere."""
    global _switch
    if _switch is not None:
        return _switch
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    class _Discard(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class Switch(SpanProcessor):
        def __init__(self) -> None:
            self.processors = {
                "otel_otlp": BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=f"127.0.0.1:{otlp_port}", insecure=True)
                ),
                "otel_noop": BatchSpanProcessor(_Discard()),
            }
            self.active: Any = None

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            pass

        def on_end(self, span: Any) -> None:
            if self.active is not None and span.kind is not SpanKind.CLIENT:
                self.active.on_end(span)

        def shutdown(self) -> None:
            for p in self.processors.values():
                p.shutdown()  # type: ignore[no-untyped-call]

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return all(p.force_flush(timeout_millis) for p in self.processors.values())

    _switch = Switch()
    provider = TracerProvider()
    provider.add_span_processor(_switch)
    trace.set_tracer_provider(provider)
    return _switch


def _mcp_servers(producers: dict[str, TrailProducer]) -> dict[str, Any]:
    from mcp.server._otel import OpenTelemetryMiddleware

    from tooltrail.consumers.app.demo.server import build_mcp

    def without_otel(server: Any) -> Any:
        server.middleware[:] = [
            m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)
        ]
        return server

    return {
        "plain": without_otel(build_mcp(None)),
        **{v: build_mcp(None) for v in OTEL},
        **{v: without_otel(build_mcp(p)) for v, p in producers.items()},
    }


def _fastmcp_servers(producers: dict[str, TrailProducer]) -> dict[str, Any]:
    from tooltrail.consumers.app.demo.server import build_fastmcp

    return {
        "plain": build_fastmcp(None),
        **{v: build_fastmcp(None) for v in OTEL},
        **{v: build_fastmcp(p) for v, p in producers.items()},
    }


def _set_fastmcp_telemetry(variant: str) -> None:
    import fastmcp

    fastmcp.settings.telemetry_mode = "native" if variant in OTEL else "off"


async def _round(sdk: str, server: Any, calls: int) -> list[float]:
    if sdk == "mcp":
        from mcp import Client

        session: Any = Client(server, mode="legacy")
    else:
        from fastmcp import Client as FastClient

        session = FastClient(server)
    samples: list[float] = []
    clock = time.perf_counter_ns
    async with session as client:
        for _ in range(calls):
            t0 = clock()
            await client.call_tool("oc_read_get_pods", {"namespace": "payments"})
            samples.append((clock() - t0) / 1000)
    return samples[calls // 10 :]  # the first tenth warms the session up


def _settled(producer: TrailProducer) -> bool:
    """The producer has taken, and sent or spilled, everything emitted so far."""
    s = producer.stats()
    accounted = s.emitted == s.sent + s.spilled + s.dropped_total + s.in_flight
    return s.queue_depth == 0 and accounted and (s.in_flight == 0 or not s.connected)


async def measure(
    sdk: str, bootstrap: str, root: Path, *, rounds: int, calls: int, otlp_port: int
) -> dict[str, Any]:
    """Run the interleaved rounds for ``sdk`` ("mcp" or "fastmcp") and return the figures."""
    set_latency_scale(0)  # the tools' own fake latency would hide what the layers add
    switch = _otel_switch(otlp_port)
    producers = {
        "tooltrail_up": TrailProducer(
            kafka_bootstrap=bootstrap,
            outbox_dir=root / f"{sdk}-up",
            events_topic=f"bench.overhead.{sdk}",
        ),
        "tooltrail_down": TrailProducer(
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            outbox_dir=root / f"{sdk}-down",
            request_timeout_ms=500,
        ),
    }
    for p in producers.values():
        p.start()
    servers = (_mcp_servers if sdk == "mcp" else _fastmcp_servers)(producers)
    per_round: dict[str, dict[str, list[float]]] = {
        v: {"p50": [], "p99": [], "cpu": []} for v in VARIANTS
    }
    pooled: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                if sdk == "fastmcp":
                    _set_fastmcp_telemetry(variant)
                switch.active = switch.processors.get(variant)
                gc.collect()
                cpu0 = time.process_time()
                samples = await _round(sdk, servers[variant], calls)
                producer = producers.get(variant)
                if producer is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until(functools.partial(_settled, producer)), 30)
                if switch.active is not None:
                    switch.active.force_flush()  # the round's spans exported, on its CPU
                    switch.active = None
                cpu = (time.process_time() - cpu0) * 1e6 / calls
                per_round[variant]["p50"].append(pct(samples, 0.5))
                per_round[variant]["p99"].append(pct(samples, 0.99))
                per_round[variant]["cpu"].append(cpu)
                pooled[variant].extend(samples)
    finally:
        for p in producers.values():
            await p.aclose(5)
        if sdk == "fastmcp":
            _set_fastmcp_telemetry("otel")  # back to fastmcp's default
    return _figures(per_round, pooled, rounds, calls, producers)


def _figures(
    per_round: dict[str, dict[str, list[float]]],
    pooled: dict[str, list[float]],
    rounds: int,
    calls: int,
    producers: dict[str, TrailProducer],
) -> dict[str, Any]:
    def added(variant: str, key: str) -> float:
        base = per_round["plain"][key]
        return median([x - b for x, b in zip(per_round[variant][key], base, strict=True)])

    out: dict[str, Any] = {"rounds": rounds, "calls_per_round": calls, "variants": {}}
    for v in VARIANTS:
        out["variants"][v] = {
            "p50_us": median(per_round[v]["p50"]),
            "p99_us": median(per_round[v]["p99"]),
            "p999_us": pct(pooled[v], 0.999),
            "max_us": round(max(pooled[v]), 1),
            "cpu_us_per_call": round(median(per_round[v]["cpu"]), 1),
            **(
                {}
                if v == "plain"
                else {
                    "added_p50_us": added(v, "p50"),
                    "added_p99_us": added(v, "p99"),
                    "added_cpu_us": round(added(v, "cpu"), 1),
                }
            ),
        }
    out["versus"] = {
        v: {k: paired(per_round[v][k], per_round[PEER][k]) for k in ("p50", "p99", "cpu")}
        for v in OURS
    }
    for v, p in producers.items():
        s = p.stats()
        out["variants"][v]["events"] = {
            "emitted": s.emitted,
            "sent": s.sent,
            "spilled": s.spilled,
            "dropped": s.dropped_total,
        }
    return out


def paired(ours: list[float], peer: list[float]) -> dict[str, Any]:
    """``ours`` minus ``peer`` round by round: the median difference, in how many rounds
    ours was not higher, and a 90 % bootstrap interval of the median (see module doc)."""
    diffs = [a - b for a, b in zip(ours, peer, strict=True)]
    rng = random.Random(29)  # noqa: S311 - resampling, not security
    medians = [median(rng.choices(diffs, k=len(diffs))) for _ in range(_RESAMPLES)]
    return {
        "median_diff": round(median(diffs), 1),
        "not_higher": sum(d <= 0 for d in diffs),
        "rounds": len(diffs),
        "interval_90": (round(pct(medians, 0.05), 1), round(pct(medians, 0.95), 1)),
    }


def versus_lines(r: dict[str, Any]) -> list[str]:
    """One line per tooltrail variant: its figures minus OpenTelemetry + OTLP's, per round."""
    out = []
    for name, figures in r.get("versus", {}).items():
        parts = []
        for key, label in (("p50", "p50"), ("p99", "p99"), ("cpu", "CPU")):
            f = figures[key]
            low, high = f["interval_90"]
            parts.append(
                f"{label} {f['median_diff']:+} us (90% {low:+}..{high:+},"
                f" not higher in {f['not_higher']}/{f['rounds']})"
            )
        out.append(f"  {name:<15} minus {PEER}: " + "; ".join(parts))
    return out


def lines(sdk: str, r: dict[str, Any]) -> list[str]:
    """Human-readable lines of one SDK's figures."""
    v = r["variants"]
    out = [
        f"{sdk}: {r['rounds']} rounds x {r['calls_per_round']} calls, in-memory client"
        f" (added = median over rounds of the difference to plain)"
    ]
    for name in VARIANTS:
        f = v.get(name)
        if f is None:
            continue
        extra = (
            ""
            if name == "plain"
            else (
                f"  added p50 {f['added_p50_us']:+} us, p99 {f['added_p99_us']:+} us,"
                f" CPU {f['added_cpu_us']:+} us/call"
            )
        )
        out.append(
            f"  {name:<15} p50 {f['p50_us']} us  p99 {f['p99_us']} us  p99.9 "
            f"{f['p999_us']} us  max {f['max_us']} us  CPU {f['cpu_us_per_call']} us/call" + extra
        )
        if (events := f.get("events")) is not None:  # where the round's events went
            out.append(
                f"  {'':<15} events: {events['emitted']} emitted, {events['sent']} sent,"
                f" {events['spilled']} spilled, {events['dropped']} dropped"
            )
    return out + versus_lines(r)
