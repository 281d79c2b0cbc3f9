"""A tool server's stand-in for fault tests: ``record_call`` at a steady, open-loop rate.

Run as ``python -m tests.producer_driver STATUS RATE SECONDS [FIRST]`` with the producer
configured by ``TOOLTRAIL_*`` variables. Each call carries its index in ``args["i"]``,
counted from ``FIRST`` (0). Every 100 ms the
driver replaces ``STATUS`` (JSON) with the producer's stats and what the calls cost:

* ``calls``: calls made so far; ``over_1ms`` / ``max_us``: instrumented calls (an empty
  block inside ``record_call``) slower than 1 ms, and the slowest;
* ``io_on_call``: file-descriptor I/O (``os.open``/``os.write``/``os.fsync``) made on the
  calling thread while inside ``record_call``: the producer promises none.

After ``SECONDS`` (or at ``SIGUSR1``: a test that has seen what it waited for ends the traffic
early) it closes the producer and writes a final status with ``done: true``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.instrument import record_call

_state = {"in_call": False, "io": 0, "end": False}
_main = threading.main_thread()


def _watch_io(name: str) -> None:
    real = getattr(os, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        if _state["in_call"] and threading.current_thread() is _main:
            _state["io"] += 1
        return real(*args, **kwargs)

    setattr(os, name, watched)


def _write(status: Path, doc: dict[str, Any]) -> None:
    tmp = status.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(doc))
    tmp.replace(status)


def main() -> None:
    status, rate, seconds = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    for name in ("open", "write", "fsync"):
        _watch_io(name)
    signal.signal(signal.SIGUSR1, lambda *_: _state.update(end=True))
    producer = TrailProducer().start()
    clock = time.perf_counter
    over_1ms, max_us, i = 0, 0.0, 0
    t0 = clock()
    next_status = t0

    def report(done: bool) -> None:
        s = producer.stats()
        _write(
            status,
            {
                **asdict(s),
                "calls": i,
                "over_1ms": over_1ms,
                "max_us": round(max_us),
                "io_on_call": _state["io"],
                "done": done,
                "elapsed_s": round(clock() - t0, 3),
            },
        )

    while True:
        now = clock()
        if now - t0 >= seconds or _state["end"]:
            break
        due = t0 + i / rate
        if due > now:
            time.sleep(due - now)
        started = clock()
        _state["in_call"] = True
        args = {"namespace": "payments", "i": first + i}
        with record_call(producer, "oc_read_get_pods", args) as h:
            h.result = {"pods": 3}
        _state["in_call"] = False
        took = (clock() - started) * 1e6
        over_1ms += took > 1000
        max_us = max(max_us, took)
        i += 1
        if started >= next_status:
            report(False)
            next_status = started + 0.1
    producer.close(10)
    report(True)


if __name__ == "__main__":
    main()
