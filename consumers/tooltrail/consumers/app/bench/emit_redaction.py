"""Redaction cost per event for ``tooltrail bench emit``: the engine against its predecessor.

``build_event`` (redaction, summary, validation) is CPU the tool server pays for every call.
Three calls are timed, each with the same small arguments: a typical result (a ~1 KB pod
listing), a ~1 KB log excerpt full of words that open the slow path (``token``,
``key=value``, a URL), and a 9 KB kubeconfig-like YAML / JSON mix with credentials in it.
Both engines run in paired rounds, so each figure has its baseline measured on the same
machine at the same time. Then hostile input (issue #27): a 9 KB result that is a key-like
word followed by a long run of blanks, separators or openers (the 143 shapes the
maintainers' hook feeds ``redact_text``), and whole events holding four such values (in
the arguments, the result and the error: bounded by the per-event budget), reported with
their p99 and maximum. The credentials are random characters generated here, never real.
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from collections.abc import Callable
from typing import Any

from tooltrail.consumers.app.bench import redact_v1
from tooltrail.consumers.app.bench.common import summary
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.events import Outcome, ToolExecutionEvent
from tooltrail.schemas.redact import budget_stats

_RNG = random.Random(1123)  # noqa: S311 - fake credentials for a benchmark, not for security
_ALNUM = string.ascii_letters + string.digits
Build = Callable[[ToolCall, ProducerSettings], ToolExecutionEvent]


def _rnd(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def _pods() -> str:
    rows = [
        f"web-{i:02d}-7d9f8c6b5-{_rnd(5).lower()}   1/1   Running   {i % 3}   {i + 2}h   "
        f"10.128.{i}.{i + 10}   worker-{i % 4}"
        for i in range(14)
    ]
    return "NAME READY STATUS RESTARTS AGE IP NODE\n" + "\n".join(rows)


def _logs() -> str:
    lines = [
        f'2026-11-23T10:00:{i:02d}Z level=info msg="token refresh ok" user=ops-{i} '
        f"key=orders/{i} url=https://api.internal:8443/v1/orders/{i}"
        for i in range(8)
    ]
    return "\n".join(lines)


def _kubeconfig_mix() -> str:
    b64 = string.ascii_letters + string.digits + "+/"
    users = "\n".join(
        f"- name: user-{i}\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FU"
        f"{_rnd(200, b64)}\n    client-key-data: {_rnd(240, b64)}\n    token: sha256~{_rnd(43)}"
        for i in range(5)
    )
    clusters = "\n".join(
        f"- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJU{_rnd(200, b64)}\n"
        f"    server: https://api.c{i}.example.com:6443\n  name: c{i}"
        for i in range(5)
    )
    secret = base64.b64encode(_rnd(24).encode()).decode()
    ref = {"secretKeyRef": {"name": "db", "key": "pw"}}
    env = [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "valueFrom": ref}]
    pods = json.dumps(
        {
            "items": [
                {
                    "metadata": {
                        "name": f"web-{i}",
                        "namespace": "payments",
                        "labels": {"app": "web"},
                    },
                    "spec": {
                        "containers": [{"name": "web", "image": "quay.io/acme/web:1.2", "env": env}]
                    },
                    "status": {"phase": "Running"},
                }
                for i in range(9)
            ]
        },
        indent=1,
    )
    return (
        f"apiVersion: v1\nkind: Config\nclusters:\n{clusters}\nusers:\n{users}\n"
        f"current-context: c0\n---\napiVersion: v1\ndata:\n  password: {secret}\nkind: Secret\n"
        f"---\n{pods}"
    )[:9216]


def samples() -> dict[str, str]:
    """The three results timed (see module docstring)."""
    return {"typical_1kb": _pods(), "logs_1kb": _logs(), "kubeconfig_9kb": _kubeconfig_mix()}


def _call(text: str) -> ToolCall:
    args = {"namespace": "payments", "selector": "app=web,tier=fe", "limit": 50}
    call = ToolCall("oc_read_get_pods", args, "sess-1")
    return call.finish(
        Outcome.OK, result={"content": [{"type": "text", "text": text}], "isError": False}
    )


def _time(build: Build, text: str, n: int, settings: ProducerSettings) -> list[float]:
    calls = [_call(text) for _ in range(n)]
    out = []
    for call in calls:
        t0 = time.perf_counter_ns()
        build(call, settings)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


HOOK_WORDS = (
    "password:",
    "the key",
    "key #",
    "foo_key={ ",
    "token ",
    "secret=",
    "Authorization:",
    "-----BEGIN ",
    "api_key",
    "client_secret",
    "db_password =",
    "PRIVATE KEY",
    "x-api-key",
)
HOOK_RUNS = (" ", "\t", " \t", ":", "=", "{ ", "<", "#", ",", "-", "@")


def hostile_values(size: int = 9 * 1024) -> list[str]:
    """The hook's shapes: each key-like word followed by ``size`` characters of each run."""
    return [(w + r * size)[:size] for w in HOOK_WORDS for r in HOOK_RUNS]


def _hostile_calls(values: list[str]) -> list[ToolCall]:
    calls = []
    for i in range(len(values)):
        a, b, c, d = (values[(i + k * 37) % len(values)] for k in range(4))
        call = ToolCall("oc_read_logs", {"query": a, "filter": {"expr": b}}, "sess-1")
        calls.append(
            call.finish(
                Outcome.TOOL_ERROR,
                error=d,
                result={"content": [{"type": "text", "text": c}], "isError": True},
            )
        )
    return calls


def _cpu_us(build: Build, calls: list[ToolCall], settings: ProducerSettings) -> list[float]:
    out = []
    for call in calls:
        t0 = time.thread_time_ns()
        build(call, settings)
        out.append((time.thread_time_ns() - t0) / 1000)
    return out


def hostile_cost(*, quick: bool) -> dict[str, Any]:
    """CPU µs (p50, p99, max) of events carrying hostile values, beside a typical event's
    in the same run, and the share of events the budget cut."""
    settings = TrailProducer.default_settings()
    values = hostile_values()
    single = [_call(v) for v in values]
    events = _hostile_calls(values)
    rounds = 1 if quick else 3
    typical = [_call(samples()["typical_1kb"]) for _ in range(200 if quick else 1000)]
    one: list[float] = []
    four: list[float] = []
    base: list[float] = []
    before = budget_stats()["over_budget"]
    for _ in range(rounds):
        base += _cpu_us(build_event, typical, settings)
        one += _cpu_us(build_event, single, settings)
        four += _cpu_us(build_event, events, settings)
    cut = budget_stats()["over_budget"] - before
    return {
        "typical_us": summary(base),
        "hostile_9kb_us": {**summary(one), "max": round(max(one), 1)},
        "hostile_event_us": {**summary(four), "max": round(max(four), 1)},
        "events_over_budget": f"{cut}/{rounds * (len(single) + len(events))}",
        "budget_ms": settings.redact_max_cpu_ms,
        "shapes": len(values),
    }


def lines(redaction: dict[str, Any]) -> list[str]:
    """The redaction figures of ``redaction_cost``, as ``bench emit`` prints them."""
    out = [
        f"build_event {label} ({c['chars']} chars): p50 {c['new_us']['p50']} us  "
        f"p99 {c['new_us']['p99']} us; previous engine p50 {c['previous_us']['p50']} us  "
        f"p99 {c['previous_us']['p99']} us -> {c['ratio_p50']}x"
        for label, c in redaction.items()
        if label != "hostile"
    ]
    h = redaction.get("hostile")
    if h:
        t, one, four = h["typical_us"], h["hostile_9kb_us"], h["hostile_event_us"]
        out += [
            f"hostile 9 KB result ({h['shapes']} hook shapes): CPU p50 {one['p50']} us  p99 "
            f"{one['p99']} us  max {one['max']} us (typical event p50 {t['p50']} us)",
            f"hostile event (4 x 9 KB: args, result, error): CPU p50 {four['p50']} us  p99 "
            f"{four['p99']} us  max {four['max']} us; budget {h['budget_ms']} ms, "
            f"{h['events_over_budget']} events cut by it",
        ]
    return out


def redaction_cost(*, quick: bool) -> dict[str, Any]:
    """p50/p99 of building one event per sample, this engine and the previous, in µs; then
    the hostile figures (``hostile_cost``) under ``"hostile"``."""
    settings = TrailProducer.default_settings()
    rounds, n_small, n_big = (2, 300, 15) if quick else (5, 2000, 60)
    out: dict[str, Any] = {}
    for label, text in samples().items():
        n = n_big if len(text) > 4096 else n_small
        new: list[float] = []
        old: list[float] = []
        for _ in range(rounds):
            new += _time(build_event, text, n, settings)
            old += _time(redact_v1.build_event, text, n, settings)
        now, before = summary(new), summary(old)
        out[label] = {
            "chars": len(text),
            "new_us": now,
            "previous_us": before,
            "ratio_p50": round(now["p50"] / before["p50"], 3),
        }
    out["hostile"] = hostile_cost(quick=quick)
    return out
