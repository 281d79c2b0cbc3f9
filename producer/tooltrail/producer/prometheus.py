"""The producer's counters for a tool server's own Prometheus registry (optional).

``REGISTRY.register(ProducerCollector(trail))`` (``prometheus_client`` is not a dependency of
the producer: import this module only where it is installed). Families:
``tooltrail_producer_{emitted,sent,spilled,resent,internal_errors,restarts,late_acks,
unconfirmed_acks,maybe_duplicated,redaction_over_budget,redaction_masked_over_budget}_total``,
``tooltrail_producer_dropped_total{reason}``,
``tooltrail_producer_enrichment_rejected_total{reason}``, ``..._enrichment_{entries,bytes}`` and
the gauges ``tooltrail_producer_queue_depth``, ``tooltrail_producer_in_flight``,
``tooltrail_producer_outbox_pending``, ``tooltrail_producer_outbox_bytes`` and
``tooltrail_producer_connected`` (see ``ProducerStats`` for what each counts).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tooltrail.producer.emitter import TrailProducer


class ProducerCollector(Collector):
    """Reads ``producer.stats()`` at each scrape (a lock-free snapshot; never blocks emit).

    Also ``tooltrail_producer_outbox_inherited_total``: records found in the outbox at start
    or adopted from a dead process's outbox directory.
    """

    def __init__(self, producer: TrailProducer) -> None:
        self.producer = producer

    def collect(self) -> Iterator[Metric]:
        """The producer's metric families, as they are now."""
        s = self.producer.stats()
        counters = (
            ("emitted", s.emitted, "Tool calls handed to the producer."),
            ("sent", s.sent, "Events Kafka acknowledged."),
            ("spilled", s.spilled, "Events written to the on-disk outbox."),
            ("resent", s.resent, "Outbox events that later reached Kafka."),
            ("internal_errors", s.internal_errors, "Failures inside instrumentation."),
            ("restarts", s.restarts, "Sender tasks restarted after a crash."),
            (
                "late_acks",
                s.late_acks,
                "Timed-out sends delivered after all (skipped, not resent).",
            ),
            (
                "unconfirmed_acks",
                s.unconfirmed_acks,
                "Acknowledgements on a topic that was lost or recreated (resent).",
            ),
            (
                "maybe_duplicated",
                s.maybe_duplicated,
                "Records sent again after a request with an unknown outcome.",
            ),
            (
                "outbox_inherited",
                s.outbox_inherited,
                "Outbox records found at start or adopted from dead processes.",
            ),
            (
                "redaction_over_budget",
                s.redaction_over_budget,
                "Events and log records whose redaction budget ran out (rest masked).",
            ),
            (
                "redaction_masked_over_budget",
                s.redaction_masked_over_budget,
                "Values masked whole because a redaction budget ran out.",
            ),
        )
        for name, value, doc in counters:
            yield CounterMetricFamily(f"tooltrail_producer_{name}", doc, value=value)
        dropped = CounterMetricFamily(
            "tooltrail_producer_dropped", "Events lost, by reason.", labels=["reason"]
        )
        for reason, count in sorted(s.dropped.items()):
            dropped.add_metric([reason], count)
        yield dropped
        rejected = CounterMetricFamily(
            "tooltrail_producer_enrichment_rejected",
            "Enrichment records ignored, by reason (unsigned, forged, key_mismatch, …).",
            labels=["reason"],
        )
        for reason, count in sorted(s.enrichment_rejected.items()):
            rejected.add_metric([reason], count)
        yield rejected
        gauges = (
            ("queue_depth", s.queue_depth, "Calls waiting in the accumulator."),
            ("in_flight", s.in_flight, "Events sent, not yet acknowledged and confirmed."),
            ("outbox_pending", s.outbox_pending, "Events waiting in the outbox."),
            ("outbox_bytes", s.outbox_bytes, "Bytes of the outbox on disk."),
            ("connected", int(s.connected), "1 while Kafka answers."),
            ("enrichment_entries", s.enrichment_entries, "Keys in the pre-search cache."),
            ("enrichment_bytes", s.enrichment_bytes, "Heap bytes of the pre-search cache."),
        )
        for name, value, doc in gauges:
            yield GaugeMetricFamily(f"tooltrail_producer_{name}", doc, value=value)
