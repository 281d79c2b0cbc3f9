"""The worker's Prometheus metrics, rendered by ``prometheus_client`` at scrape time.

Per group (label ``group``): counters ``tooltrail_{consumed,written,dead_lettered,rejected,
letters_lost,retries,store_resets}_total``; histograms ``tooltrail_freshness_seconds`` (a
call's end to its durable write) and ``tooltrail_sink_write_seconds``; gauges ``tooltrail_lag``
(per owned partition), ``tooltrail_healthy``, ``tooltrail_group_retrying`` (stuck),
``tooltrail_retrying_seconds``, ``tooltrail_ready`` and ``tooltrail_last_error_info`` (label
``error_type``: the exception's class, never its text, so a changing message does not make a
series per occurrence; the text is in ``tooltrail stats`` and the logs). The standard
``process_*`` and ``python_info`` families come with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tooltrail.consumers.observability.group_stats import GroupStats

CONTENT_TYPE = CONTENT_TYPE_LATEST
COUNTERS = (
    ("consumed", "Messages fetched from the events topic."),
    ("written", "Events durably written by the sink."),
    ("dead_lettered", "Messages sent to the dead-letter topic."),
    ("rejected", "Valid events the sink could not write (dead-lettered)."),
    ("letters_lost", "Dead letters Kafka refused for good; their records were skipped."),
    ("retries", "Failed attempts that were retried (sink, dead letters, connecting)."),
    ("store_resets", "Times the memory store was found wiped or recreated under the worker."),
)


#: A dotted Python name: what an exception's class looks like.
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def error_type(error: str) -> str:
    """The class of an error recorded as ``"[context: ]Class: message"``; ``other`` if none.

    The value set is the exception classes in the code, so the label stays bounded.
    """
    for part in error.split(":", 3)[:3]:
        name = part.strip()
        if len(name) <= 80 and _CLASS_NAME.fullmatch(name):
            return name
    return "other"


class GroupCollector(Collector):
    """Yields every group's figures as metric families (see module docstring)."""

    def __init__(self, groups: Callable[[], list[GroupStats]]) -> None:
        self.groups = groups

    def collect(self) -> Iterator[Metric]:
        """The metric families of the groups, as they are now."""
        groups = self.groups()
        for attr, doc in COUNTERS:
            family = CounterMetricFamily(f"tooltrail_{attr}", doc, labels=["group"])
            for g in groups:
                family.add_metric([g.group], getattr(g, attr))
            yield family
        yield from self._histograms(groups)
        lag = GaugeMetricFamily(
            "tooltrail_lag",
            "Highwater minus committed offset, per owned partition.",
            labels=["group", "partition"],
        )
        for g in groups:
            for partition, value in sorted(g.lag().items()):
                lag.add_metric([g.group, str(partition)], value)
        yield lag
        yield from self._gauges(groups)

    @staticmethod
    def _histograms(groups: list[GroupStats]) -> Iterator[Metric]:
        fresh = HistogramMetricFamily(
            "tooltrail_freshness_seconds",
            "From a call's end to its event durably written.",
            labels=["group"],
        )
        write = HistogramMetricFamily(
            "tooltrail_sink_write_seconds",
            "Duration of one sink write that went through.",
            labels=["group"],
        )
        for g in groups:
            fresh.add_metric([g.group], g.freshness.cumulative(), g.freshness.total)
            write.add_metric([g.group], g.write_seconds.cumulative(), g.write_seconds.total)
        yield from (fresh, write)

    @staticmethod
    def _gauges(groups: list[GroupStats]) -> Iterator[Metric]:
        gauges = (
            (
                "tooltrail_healthy",
                "1 while the group is not retrying a failed batch.",
                lambda g: int(g.retrying_since is None),
            ),
            (
                "tooltrail_group_retrying",
                "1 while the group has retried one batch for longer than TOOLTRAIL_STUCK_AFTER_S.",
                lambda g: int(g.stuck),
            ),
            (
                "tooltrail_retrying_seconds",
                "How long the current batch has been failing.",
                lambda g: round(g.retrying_for, 1),
            ),
            ("tooltrail_ready", "1 once connected and not stuck.", lambda g: int(g.ready)),
        )
        for name, doc, value in gauges:
            family = GaugeMetricFamily(name, doc, labels=["group"])
            for g in groups:
                family.add_metric([g.group], value(g))
            yield family
        info = GaugeMetricFamily(
            "tooltrail_last_error_info",
            "The class of the group's last error (1 while it has one; the text is in "
            "'tooltrail stats').",
            labels=["group", "error_type"],
        )
        for g in groups:
            if g.last_error:
                info.add_metric([g.group, error_type(g.last_error)], 1)
        yield info


def registry_for(groups: Callable[[], list[GroupStats]]) -> CollectorRegistry:
    """A registry with the groups' figures and the process metrics."""
    registry = CollectorRegistry()
    registry.register(GroupCollector(groups))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry``."""
    return generate_latest(registry)
