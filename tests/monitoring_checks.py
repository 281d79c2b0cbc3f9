"""Checks of ``deploy/monitoring``: the rules and dashboard parse as PromQL and read metrics
that exist, the PodMonitor selects the workers, the labels and runbooks are in place; where
promtool is, Prometheus's own tool checks them too."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from tests.deploy_checks import DEPLOY, ROOT, by_kind, render

MONITORING = DEPLOY / "monitoring"
#: The label kube-prometheus-stack's Prometheus selects rules and monitors by (its release).
KUBE_PROMETHEUS_RELEASE = "kube-prometheus-stack"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a README heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


_METRIC = re.compile(r"\b((?:tooltrail|process)_[a-z0-9_]+)")


def monitoring_queries(root: Path = MONITORING) -> dict[str, str]:
    """``{where: PromQL}`` of every alert rule and dashboard target."""
    queries = {}
    rule = yaml.safe_load((root / "prometheusrule.yaml").read_text())
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            queries[f"alert {r['alert']}"] = str(r["expr"])
    dashboard = json.loads((root / "tooltrail-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    return queries


def used_metrics(queries: dict[str, str]) -> set[str]:
    """The metric families the queries read (histogram series folded into their family)."""
    names = set()
    for expr in queries.values():
        for name in _METRIC.findall(expr):
            names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def exported_families(exposition: str) -> set[str]:
    """Family names in a Prometheus text exposition (counters under their _total name)."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(
                name + "_total" if kind == "counter" and not name.endswith("_total") else name
            )
    return names


def check_monitoring(root: Path = MONITORING) -> list[str]:
    """Alert rules and dashboard parse as PromQL and are well formed; the PodMonitor scrapes
    the worker pods' http port."""
    import promql_parser

    problems = []
    for where, expr in monitoring_queries(root).items():
        try:
            promql_parser.parse(expr)
        except ValueError as exc:
            problems.append(f"{where}: not PromQL: {exc}")
    rule = yaml.safe_load((root / "prometheusrule.yaml").read_text())
    if (rule["apiVersion"], rule["kind"]) != ("monitoring.coreos.com/v1", "PrometheusRule"):
        problems.append("prometheusrule.yaml: not a monitoring.coreos.com/v1 PrometheusRule")
    monitor = yaml.safe_load((root / "podmonitor.yaml").read_text())
    for doc in (rule, monitor):
        if doc["metadata"].get("labels", {}).get("release") != KUBE_PROMETHEUS_RELEASE:
            problems.append(
                f"{doc['kind']}: no 'release: {KUBE_PROMETHEUS_RELEASE}' label, which "
                "kube-prometheus-stack's Prometheus selects by"
            )
    readme = (ROOT / "README.md").read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    exprs = [str(r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]
    if not any("absent(" in e for e in exprs) or not any(" unless " in e for e in exprs):
        problems.append("alerts: none fires when the worker targets vanish (absent / unless)")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            url = r.get("annotations", {}).get("runbook_url", "")
            if url.partition("#")[2] not in anchors:
                problems.append(f"alert {r['alert']}: runbook_url {url!r} is no README section")
            if not re.fullmatch(r"\d+[smh]", str(r.get("for", ""))):
                problems.append(f"alert {r['alert']}: 'for' is not a duration")
            if r.get("labels", {}).get("severity") not in ("warning", "critical"):
                problems.append(f"alert {r['alert']}: severity must be warning or critical")
            if not {"summary", "description"} <= set(r.get("annotations", {})):
                problems.append(f"alert {r['alert']}: needs a summary and a description")
    dashboard = json.loads((root / "tooltrail-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)) or not all("gridPos" in p for p in dashboard["panels"]):
        problems.append("dashboard: panel ids must be unique and every panel placed")
    wanted = monitor["spec"]["selector"]["matchLabels"]
    for dep in by_kind(render(DEPLOY / "k8s" / "base"), "Deployment"):
        template = dep["spec"]["template"]
        if not wanted.items() <= template["metadata"]["labels"].items():
            problems.append(f"PodMonitor does not select {dep['metadata']['name']}")
        ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        if monitor["spec"]["podMetricsEndpoints"][0]["port"] not in ports:
            problems.append(f"PodMonitor port not on {dep['metadata']['name']}")
    return problems


def promtool() -> str | None:
    """Prometheus's promtool: on PATH, or where .ci/run puts it (Debian's package, extracted)."""
    local = ROOT / ".ci" / "bin" / "promtool"
    return shutil.which("promtool") or (str(local) if local.is_file() else None)


def rule_file(root: Path, out: Path) -> Path:
    """The PrometheusRule's groups as a plain Prometheus rule file (what promtool reads)."""
    rule = yaml.safe_load((root / "prometheusrule.yaml").read_text())
    out.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return out
