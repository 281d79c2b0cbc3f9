"""The metrics sink on its own: a torn tail is never appended to; export skips it."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.factories import make_event
from tooltrail.consumers.runtime.runner import Delivered
from tooltrail.consumers.sinks.metrics import MetricsSink, segments
from tooltrail.consumers.sinks.metrics_export import export


async def test_restart_after_a_torn_write_opens_a_new_segment(tmp_path: Path) -> None:
    first = [make_event() for _ in range(3)]
    sink = MetricsSink(tmp_path, 10**6)
    await sink.start()
    await sink.write([Delivered(e, 0, i) for i, e in enumerate(first)])
    [segment] = segments(tmp_path)
    with segment.open("ab") as f:
        f.write(b'{"toolId": "torn by a kill')  # no newline: the process died mid-write
    again = MetricsSink(tmp_path, 10**6)
    await again.start()
    later = [make_event() for _ in range(2)]
    await again.write([Delivered(e, 0, i) for i, e in enumerate([*first, *later])])
    assert len(segments(tmp_path)) == 2  # the torn segment was not appended to
    second = segments(tmp_path)[1].read_bytes().splitlines()
    assert [orjson.loads(line)["eventId"] for line in second] == [e.event_id for e in later]
    out = tmp_path / "out.json"
    assert export(tmp_path, out) == 5
    assert [r["eventId"] for r in orjson.loads(out.read_bytes())] == [
        e.event_id for e in [*first, *later]
    ]


async def test_writers_sharing_a_directory_append_to_their_own_segments_only(
    tmp_path: Path,
) -> None:
    legacy = tmp_path / "metrics-20260101-000001.jsonl"  # written before segments named writers
    old = make_event()
    legacy.write_bytes(orjson.dumps({"eventId": old.event_id, "toolId": "t"}) + b"\n")
    a, b = (
        MetricsSink(tmp_path, 10**6, writer_id="pod-a"),
        MetricsSink(tmp_path, 10**6, writer_id="pod-b"),
    )
    await a.start()
    await b.start()
    mine = [make_event() for _ in range(3)]
    await a.write([Delivered(e, 0, i) for i, e in enumerate([old, *mine])])
    await b.reload()  # after a rebalance b owns a's partition and sees a's records
    theirs = [make_event() for _ in range(2)]
    await b.write([Delivered(e, 0, i) for i, e in enumerate([*mine, *theirs])])
    await a.reload()
    await a.write([Delivered(e, 0, 0) for e in mine])  # a redelivery: nothing new
    names = sorted(p.name for p in segments(tmp_path))
    assert names[0] == legacy.name
    assert len(names) == 3
    assert names[1].endswith("-pod-a.jsonl")
    assert names[2].endswith("-pod-b.jsonl")

    def ids(name: str) -> list[str]:
        return [
            orjson.loads(line)["eventId"] for line in (tmp_path / name).read_bytes().splitlines()
        ]

    assert ids(names[1]) == [e.event_id for e in mine]  # old was in the legacy segment
    assert ids(names[2]) == [e.event_id for e in theirs]
