"""The dashboard, the alert rules and the PodMonitor: valid, and reading metrics that exist."""

# ruff: noqa: E501 - ALERT_TESTS holds promtool's expected annotations, whole sentences

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.monitoring_checks import (
    MONITORING,
    check_monitoring,
    exported_families,
    monitoring_queries,
    promtool,
    rule_file,
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


def _promtool() -> str:
    found = promtool()
    if found is None:
        if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure
            pytest.fail("promtool is missing: .ci/run extracts it from Debian's prometheus")
        pytest.skip("promtool is not installed (bash .ci/run puts it in .ci/bin)")
    return found


def _promtool_run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_alert_rules(tmp_path: Path) -> None:
    rules = rule_file(MONITORING, tmp_path / "rules.yaml")
    out = _promtool_run("check", "rules", str(rules))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 10 rules found" in out.stdout + out.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(rules.read_text().replace("for: 5m", "for: five minutes", 1))
    assert _promtool_run("check", "rules", str(broken)).returncode != 0


#: promtool unit tests of the alerts that matter when things disappear or stall.
ALERT_TESTS = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="tooltrail/tooltrail-workers", pod="tooltrail-memory-0"}'
        values: '1x20 0x40'
      - series: 'tooltrail_ready{group="tooltrail-memory", pod="tooltrail-memory-0"}'
        values: '1x60 _x80'
      - series: 'tooltrail_ready{group="tooltrail-metrics", pod="tooltrail-metrics-0"}'
        values: '1x140'
      - series: 'tooltrail_group_retrying{group="tooltrail-metrics"}'
        values: '0x10 1x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: TooltrailWorkerScrapeFailing
        exp_alerts: []
      - eval_time: 30m
        alertname: TooltrailWorkerScrapeFailing
        exp_alerts:
          - exp_labels:
              severity: warning
              job: tooltrail/tooltrail-workers
              pod: tooltrail-memory-0
            exp_annotations:
              runbook_url: https://github.com/tooltrail/tooltrail/blob/main/README.md#tooltrailworkerscrapefailing
              summary: Prometheus cannot scrape tooltrail-memory-0
              description: "The pod is listed but /metrics does not answer: the process hangs, or a NetworkPolicy blocks the monitoring namespace."
      - eval_time: 30m
        alertname: TooltrailWorkersAbsent
        exp_alerts:
          - exp_labels:
              severity: critical
            exp_annotations:
              runbook_url: https://github.com/tooltrail/tooltrail/blob/main/README.md#tooltrailworkersabsent
              summary: No tooltrail worker is being scraped
              description: "Prometheus scrapes no worker pod: the Deployments are gone or scaled to zero, the pods crash, or the PodMonitor no longer matches them."
      - eval_time: 50m
        alertname: TooltrailGroupVanished
        exp_alerts: []
      - eval_time: 80m
        alertname: TooltrailGroupVanished
        exp_alerts:
          - exp_labels:
              severity: critical
              group: tooltrail-memory
            exp_annotations:
              runbook_url: https://github.com/tooltrail/tooltrail/blob/main/README.md#tooltrailgroupvanished
              summary: tooltrail-memory had workers an hour ago and has none now
              description: "Every scrape target of tooltrail-memory vanished: nothing consumes its events (kubectl get pods -l app.kubernetes.io/component=worker)."
      - eval_time: 25m
        alertname: TooltrailGroupStuck
        exp_alerts:
          - exp_labels:
              severity: critical
              group: tooltrail-metrics
            exp_annotations:
              runbook_url: https://github.com/tooltrail/tooltrail/blob/main/README.md#tooltrailgroupstuck
              summary: tooltrail-metrics has retried one batch for too long
              description: "Its sink (Chroma, the disk, Kafka) keeps failing: see tooltrail_last_error_info or 'tooltrail stats'. Nothing is committed past the batch, nothing is lost."
"""


def test_promtool_unit_tests_the_alerts_for_vanished_and_stuck_workers(tmp_path: Path) -> None:
    rule_file(MONITORING, tmp_path / "rules.yaml")
    (tmp_path / "tests.yaml").write_text(ALERT_TESTS)
    out = _promtool_run("test", "rules", str(tmp_path / "tests.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr
    # and the test can fail: an absence check that a failing target still satisfies fails it
    rules = (tmp_path / "rules.yaml").read_text()
    wrong = rules.replace(
        'absent(up{job=~".*tooltrail-workers"} == 1)', 'absent(up{job=~".*tooltrail-workers"})'
    )
    assert wrong != rules
    (tmp_path / "rules.yaml").write_text(wrong)
    assert _promtool_run("test", "rules", str(tmp_path / "tests.yaml")).returncode != 0


def test_promtool_lints_what_a_worker_and_a_producer_expose(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    stats = GroupStats("tooltrail-memory")
    stats.failed("RetriableSinkError: chroma down")
    stats.freshness.observe(0.2)
    out = _promtool_run("check", "metrics", stdin=prometheus_text([stats]))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout + out.stderr == ""  # no lint finding at all
    producer = TrailProducer(outbox_dir=tmp_path / "ob", kafka_bootstrap="127.0.0.1:1")
    registry = CollectorRegistry()
    registry.register(ProducerCollector(producer))
    text = generate_latest(registry).decode()
    producer.close()
    out = _promtool_run("check", "metrics", stdin=text)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout + out.stderr == ""
    bad = "# HELP tooltrail_latency_ms x\n# TYPE tooltrail_latency_ms counter\n"
    bad += "tooltrail_latency_ms 1\n"
    assert _promtool_run("check", "metrics", stdin=bad).returncode != 0  # it does lint
