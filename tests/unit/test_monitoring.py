"""The dashboard, the alert rules and the PodMonitor: valid, and reading metrics that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.deploy_checks import (
    MONITORING,
    check_monitoring,
    exported_families,
    monitoring_queries,
    used_metrics,
)
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.http import prometheus_text
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.prometheus import ProducerCollector


def test_rules_dashboard_and_podmonitor_are_well_formed() -> None:
    assert check_monitoring() == []
    queries = monitoring_queries()
    assert any(k.startswith("alert ") for k in queries)
    assert any(k.startswith("panel ") for k in queries)


@pytest.mark.parametrize(
    ("file", "old", "new", "caught"),
    [
        (
            "prometheusrule.yaml",
            "(tooltrail_group_retrying)",
            "(tooltrail_group_retrying",
            "alert TooltrailGroupStuck: not PromQL",
        ),
        ("prometheusrule.yaml", "severity: critical", "severity: page", "severity must be"),
        ("tooltrail-dashboard.json", "[5m])))", "[5m]))))", "not PromQL"),
        ("podmonitor.yaml", "port: http", "port: metrics", "PodMonitor port not on"),
        ("podmonitor.yaml", "component: worker", "component: api", "does not select"),
    ],
)
def test_the_checks_catch_a_broken_file(
    tmp_path: Path, file: str, old: str, new: str, caught: str
) -> None:
    for path in MONITORING.iterdir():
        text = path.read_text()
        (tmp_path / path.name).write_text(text.replace(old, new, 1) if path.name == file else text)
    problems = check_monitoring(tmp_path)
    assert any(caught in p for p in problems), problems


def test_every_metric_the_dashboard_and_alerts_read_is_exported(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    stats = GroupStats("g")
    stats.failed("x")  # so that the last-error family has a sample
    exported = exported_families(prometheus_text([stats]))
    producer = TrailProducer(outbox_dir=tmp_path / "ob", kafka_bootstrap="127.0.0.1:1")
    registry = CollectorRegistry()
    registry.register(ProducerCollector(producer))
    exported |= exported_families(generate_latest(registry).decode())
    producer.close()
    missing = used_metrics(monitoring_queries()) - exported
    assert missing == set(), missing
    used = used_metrics(monitoring_queries())
    assert {
        "tooltrail_producer_dropped_total",
        "tooltrail_freshness_seconds",
        "tooltrail_lag",
        "process_resident_memory_bytes",
    } <= used


def test_dashboard_covers_what_an_operator_needs() -> None:
    dashboard = json.loads((MONITORING / "tooltrail-dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("lag", "written", "dead letters", "freshness", "retries", "spilled", "dropped"):
        assert topic in titles


@given(st.lists(st.text(max_size=200), min_size=1, max_size=20))
def test_last_error_info_has_one_series_per_error_class_whatever_the_messages(
    messages: list[str],
) -> None:
    from tooltrail.consumers.observability.exposition import error_type

    series = set()
    for message in messages:
        stats = GroupStats("tooltrail-memory")
        stats.failed(f"RetriableSinkError: {message}")
        text = prometheus_text([stats])
        series |= {line for line in text.splitlines() if line.startswith("tooltrail_last_error")}
    assert series == {
        'tooltrail_last_error_info{error_type="RetriableSinkError",group="tooltrail-memory"} 1.0'
    }
    assert error_type("kafka unreachable: KafkaConnectionError: no broker at 10.0.0.1") == (
        "KafkaConnectionError"
    )
    assert error_type("connection refused (errno 111)") == "other"
