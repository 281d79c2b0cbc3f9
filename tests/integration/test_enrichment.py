"""Pre-search end to end: the enrich group publishes, the tool server's cache serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.integration.test_memory_worker import memory_settings
from tests.integration.test_metrics_worker import running
from tests.kafka_helpers import read_topic, wait_for
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.topics import ensure_topics, pipeline_topics
from tooltrail.consumers.memory.embedders import HashingEF
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.runtime.runner import Delivered, GroupRunner
from tooltrail.consumers.sinks.enrich import EnrichSink
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.enrichment import current_enrichment
from tooltrail.producer.instrument import instrument
from tooltrail.schemas import EnrichmentEntry, EnrichmentHit, ToolExecutionEvent, decode
from tooltrail.schemas.headers import entry_headers
from tooltrail.schemas.signing import SIGNATURE_HEADER

pytestmark = pytest.mark.integration


def _producer(kafka: KafkaEndpoint, names: Names, tmp: Path) -> TrailProducer:
    return TrailProducer(
        kafka_bootstrap=kafka.bootstrap,
        events_topic=names.events,
        enrichment_topic=names.enrichment,
        outbox_dir=tmp / "ob",
        request_timeout_ms=2000,
    )


async def test_a_later_call_sees_the_situation_of_an_earlier_related_call(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, tmp_path: Path
) -> None:
    """The memory group stores situations, the enrich group hands other ones to the next call."""
    settings = memory_settings(
        kafka, names, chroma.url, tmp_path, embedder="hashing", enrich_group=names.group + "-enrich"
    )
    topics = pipeline_topics(names.events, names.dlq, names.enrichment, 3, 1)
    await ensure_topics(settings.kafka_kwargs(), topics)
    producer = _producer(kafka, names, tmp_path).start()
    seen: list[tuple[EnrichmentHit, ...]] = []

    @instrument(producer)
    def oc_read_get_pods(namespace: str) -> str:
        seen.append(current_enrichment())
        return f"3 pods in {namespace}"

    memory = GroupRunner(settings, settings.memory_group, MemorySink(settings, HashingEF()))
    runner = GroupRunner(settings, settings.enrich_group, EnrichSink(settings, HashingEF()))
    try:
        async with running(memory), running(runner):
            assert oc_read_get_pods("payments") == "3 pods in payments"
            await wait_for(lambda: memory.stats.written >= 1, 60, "the first situation")
            assert oc_read_get_pods("checkout") == "3 pods in checkout"
            cache = producer.enrichment
            assert cache is not None
            args = {"namespace": "checkout"}
            await wait_for(
                lambda: len(cache.lookup("oc_read_get_pods", args)) > 0,
                60,
                "the entry for the second call's key",
            )
            assert oc_read_get_pods("checkout") == "3 pods in checkout"
    finally:
        await producer.aclose(10)
    assert seen[0] == ()  # cold cache: no hits, no error
    records = await read_topic(kafka.bootstrap, names.events, until=lambda r: len(r) >= 3)
    events = [decode(r.value, ToolExecutionEvent) for r in records]
    first = next(e for e in events if e.args == {"namespace": "payments"})
    second = max(
        (e for e in events if e.args == {"namespace": "checkout"}), key=lambda e: e.ended_at
    )
    hits = seen[2]
    assert [h.id for h in hits] == [situation_of(first).id]  # not its own situation
    assert hits[0].occurrences == 1
    assert hits[0].tool == "oc_read_get_pods"
    assert hits[0].excerpt.startswith("oc_read_get_pods ok: ok (namespace=payments)")
    presearch = [a for a in second.anchors if a.startswith("presearch:")]
    assert presearch
    assert presearch[0].startswith(f"presearch:hits={len(seen[2])};us=")
    entries = await read_topic(kafka.bootstrap, names.enrichment, until=lambda r: len(r) >= 1)
    entry = decode(entries[0].value, EnrichmentEntry)
    headers = list(entries[0].headers)
    assert headers[:-1] == entry_headers(entry)  # self-describing entries
    assert headers[-1][0] == SIGNATURE_HEADER  # and signed
    assert (entry.environment, entry.domain) == ("default", "general")


async def test_chroma_down_pauses_enrichment_but_never_the_tool(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    server = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log").start()
    try:
        settings = memory_settings(
            kafka,
            names,
            server.url,
            tmp_path,
            embedder="hashing",
            enrich_group=names.group + "-enrich",
            retry_backoff_max_s=0.5,
        )
        topics = pipeline_topics(names.events, names.dlq, names.enrichment, 3, 1)
        await ensure_topics(settings.kafka_kwargs(), topics)
        producer = _producer(kafka, names, tmp_path).start()

        @instrument(producer)
        def oc_read_logs(pod: str) -> str:
            return f"logs of {pod}"

        seed = MemorySink(settings, HashingEF())  # a past situation for the hits (not its own)
        await seed.start()
        past = make_event(
            tool_id="oc_read_logs",
            outcome="tool_error",
            error_summary="connection refused",
            args={"pod": "web-0"},
        )
        await seed.write([Delivered(past, 0, 0)])
        await seed.close()
        runner = GroupRunner(settings, settings.enrich_group, EnrichSink(settings, HashingEF()))
        cache = producer.enrichment
        assert cache is not None
        try:
            async with running(runner):
                oc_read_logs("web-1")
                await wait_for(
                    lambda: len(cache.lookup("oc_read_logs", {"pod": "web-1"})) > 0,
                    60,
                    "the first entry",
                )
                server.stop()
                assert [oc_read_logs(f"web-{i}") for i in range(2, 6)] == [
                    f"logs of web-{i}" for i in range(2, 6)
                ]  # tool calls unaffected while Chroma is down
                await wait_for(lambda: runner.stats.retries >= 2, 60, "the enrich group to retry")
                assert cache.lookup("oc_read_logs", {"pod": "web-5"}) == ()  # no hits, no error
                server.start()
                await wait_for(
                    lambda: len(cache.lookup("oc_read_logs", {"pod": "web-5"})) > 0,
                    90,
                    "entries to resume",
                )
        finally:
            await producer.aclose(10)
    finally:
        server.stop()
