"""Linear time, proven: every regex of the engine on hostile input built from its own parse
tree, the engine on hostile values, and a thread beside hostile events never starved.

Costs are the calling thread's CPU time (the minimum of several runs); a case is suspect when
doubling the input costs more than 2.2 times as much, and fails only if it stays so when
measured again from eight to thirty-two times the size (the cost of one doubling averaged over
two), three times over (a quadratic case costs 4x, every time). No absolute time is asserted
except the stall bound the issue fixes (50 ms).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import pytest

from tests.data.adversarial import hostile_values, pattern_inputs
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.events import Outcome
from tooltrail.schemas.redact import RedactionLimits, redact_text
from tooltrail.schemas.redact.patterns import REGISTRY
from tooltrail.schemas.redact.vendors import ANYWHERE_FORMATS, RUN_FORMATS

#: By its module name: ``tooltrail.schemas.redact`` is also the name of a function there.
redact_package = importlib.import_module("tooltrail.schemas.redact")
PACKAGE = Path(redact_package.__file__ or "").parent
MODULES = [
    importlib.import_module(f"tooltrail.schemas.redact.{m.name}")
    for m in pkgutil.iter_modules(redact_package.__path__)
]
RATIO = 2.2
#: No window and no budget: what is measured is the passes themselves, not the cut.
UNBOUNDED = RedactionLimits(max_string=65_536, max_scan_chars=1 << 30, max_cpu_ms=1e9)
EXTRA_SHAPES = 1500  # drawn besides the hook's 143 shapes
_REGEX_CALLS = {"compile", "search", "match", "fullmatch", "sub", "subn", "finditer", "findall"}


def _cost(fn: Callable[[str], object], text: str, runs: int) -> int:
    best = 1 << 62
    for _ in range(runs):
        start = time.thread_time_ns()
        fn(text)
        best = min(best, time.thread_time_ns() - start)
    return best


def _super_linear(
    fn: Callable[[str], object], make: Callable[[int], str], n: int, floor_ns: int
) -> str | None:
    """None if doubling ``make(n)`` costs under ``RATIO`` times as much (or is too cheap to
    matter); else a description, once confirmed from 8n to 32n three times over (small sizes
    are distorted by caches)."""
    small, big = _cost(fn, make(n), 1), _cost(fn, make(2 * n), 1)
    if big < floor_ns or big <= RATIO * small:
        return None
    ratios = []
    for _ in range(3):
        small = _cost(fn, make(8 * n), 3)
        if small > 1_000_000_000:  # already flagged, and a second per call: no need to wait
            return f"{small / 1e9:.1f} s at {8 * n} chars after {big / 1e6:.1f} ms at {2 * n}"
        big = _cost(fn, make(32 * n), 3)
        # the cost of one doubling, averaged over two: a busy machine's noise on one short
        # measurement moved a linear pattern's single ratio to 2.37 (a quadratic one is 4)
        per_doubling = (big / max(small, 1)) ** 0.5
        ratios.append(round(per_doubling, 2))
        if per_doubling <= RATIO:
            return None
    return f"{ratios} per doubling at {8 * n}→{32 * n} chars ({big / 1e6:.1f} ms)"


def test_no_module_compiles_or_runs_a_regex_outside_the_registry() -> None:
    for path in PACKAGE.glob("*.py"):
        if path.name == "patterns.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                if isinstance(target, ast.Name) and target.id == "re":
                    assert node.func.attr not in _REGEX_CALLS, f"{path.name}: re.{node.func.attr}"


def test_every_pattern_of_the_package_is_registered() -> None:
    found = [
        (module.__name__, name)
        for module in MODULES
        for name, value in vars(module).items()
        if isinstance(value, re.Pattern) and value not in REGISTRY
    ]
    assert found == []
    for fmt in (*RUN_FORMATS, *ANYWHERE_FORMATS):
        assert fmt.regex in REGISTRY, fmt.name
    assert len(REGISTRY) >= 100


@lru_cache(maxsize=8)
def _inputs(pattern: re.Pattern[str], n: int) -> list[str]:
    return list(pattern_inputs(pattern, n))


@lru_cache(maxsize=8)
def _values(n: int) -> list[str]:
    return [value for _, _, value in hostile_values(n, extra=EXTRA_SHAPES)]


def _uses(pattern: re.Pattern[str]) -> list[Callable[[str], object]]:
    if REGISTRY[pattern] == "scan":
        return [lambda s: deque(pattern.finditer(s), maxlen=0)]  # matches not kept: no GC
    return [pattern.match, pattern.fullmatch, lambda s: pattern.match(s, 1)]


@pytest.mark.parametrize(
    "pattern", sorted(REGISTRY, key=lambda p: p.pattern), ids=lambda p: p.pattern[:40]
)
def test_every_registered_pattern_runs_in_linear_time(pattern: re.Pattern[str]) -> None:
    shapes = list(pattern_inputs(pattern, 1))
    bad = []
    for k in range(len(shapes)):
        for use in _uses(pattern):

            def make(n: int, k: int = k) -> str:
                return _inputs(pattern, n)[k]

            verdict = _super_linear(use, make, 1024, floor_ns=300_000)
            if verdict is not None:
                bad.append((make(64)[:40], verdict))
    assert bad == [], (REGISTRY[pattern], pattern.pattern, bad[:3])


def test_hostile_values_cost_linear_time_end_to_end() -> None:
    cases = hostile_values(1, extra=EXTRA_SHAPES)

    def redact(text: str) -> str:
        return redact_text(text, UNBOUNDED)

    bad = []
    for k, (word, run, _) in enumerate(cases):

        def make(n: int, k: int = k) -> str:
            return _values(n)[k]

        verdict = _super_linear(redact, make, 2304, floor_ns=2_000_000)
        if verdict is not None:
            bad.append((word, run, verdict))
    assert bad == []


def _hostile_calls(count: int) -> list[ToolCall]:
    values = [v for _, _, v in hostile_values(9 * 1024, extra=4 * count)]
    calls = []
    for i in range(count):
        a, b, c, d = values[4 * i : 4 * i + 4]
        call = ToolCall("oc_read_logs", {"query": a, "filter": {"expr": b}}, "s")
        calls.append(
            call.finish(
                Outcome.TOOL_ERROR,
                error=d,
                result={"content": [{"type": "text", "text": c}], "isError": True},
            )
        )
    return calls


def _longest_wait(work: Callable[[], None]) -> float:
    """The longest a thread sleeping 1 ms at a time waited while ``work`` ran."""
    longest, done = 0.0, threading.Event()

    def tick() -> None:
        nonlocal longest
        while not done.is_set():
            start = time.perf_counter()
            time.sleep(0.001)
            longest = max(longest, time.perf_counter() - start)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        work()
    finally:
        done.set()
        ticker.join(timeout=10)
    return longest


def test_a_thread_beside_hostile_events_never_waits_50_ms() -> None:
    settings = ProducerSettings()
    calls = _hostile_calls(60)

    def build() -> None:
        for call in calls:
            build_event(call, settings)

    waits = []
    for _ in range(3):  # another process may take the CPU for a while: only a GIL held long fails
        waits.append(_longest_wait(build))
        if waits[-1] < 0.050:
            return
    pytest.fail(f"the ticker waited {[round(w * 1000, 1) for w in waits]} ms")
