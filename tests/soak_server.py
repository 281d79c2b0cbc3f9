"""A tool server for the soak test: the real producer and enrichment cache, steady calls.

Run as ``python -m tests.soak_server RATE SECONDS``; settings come from the environment like
any tool server's. Each call has new arguments, so the enrich group publishes a new cache key
for every one and only the cache's bound can keep the process's memory flat. One JSON line of
the producer's stats goes to stderr every second (stdout stays clean, as on a stdio server).
"""

from __future__ import annotations

import dataclasses
import sys
import time

import orjson

from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.enrichment import current_enrichment
from tooltrail.producer.instrument import instrument


def main(rate: float, seconds: float) -> None:
    """Call one instrumented tool ``rate`` times a second for ``seconds``, then close."""
    producer = TrailProducer().start()

    @instrument(producer)
    def oc_read_get_pods(namespace: str) -> str:
        return f"{len(current_enrichment())} hits for {namespace}"

    started = time.monotonic()
    next_report = started
    calls = 0
    while (now := time.monotonic()) - started < seconds:
        due = int((now - started) * rate)
        while calls < due:
            oc_read_get_pods(f"soak-namespace-{calls:07d}")
            calls += 1
        if now >= next_report:
            stats = producer.stats()
            line = {"calls": calls, **dataclasses.asdict(stats)}
            sys.stderr.write(orjson.dumps(line, default=str).decode() + "\n")
            sys.stderr.flush()
            next_report += 1.0
        time.sleep(0.005)
    producer.close(5)


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]))
