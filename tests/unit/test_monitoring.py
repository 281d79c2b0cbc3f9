"""The dashboard, the alert rules and the PodMonitor: valid, and reading metrics that exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
