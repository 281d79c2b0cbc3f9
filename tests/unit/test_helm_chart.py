"""The Helm chart (deploy/helm/tooltrail), linted and rendered by Helm's own Go SDK.

``helm_python`` binds Helm v4's SDK (the code the ``helm`` binary runs), so ``lint`` and
``render`` here are Helm's. Every variant a user is likely to pick (the defaults, KEDA off, a
secured Strimzi Kafka, the demo, the monitoring resources) renders to YAML without duplicate
keys, validates strictly against the Kubernetes 1.27 and 1.37 schemas, and passes the same
cross-file checks as the kustomize overlays.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy_checks import (
    DEPLOY,
    by_kind,
    check_kubernetes,
    check_topics,
    load_docs,
    parse_cli,
)
from tooltrail import __version__

CHART = DEPLOY / "helm" / "tooltrail"
Doc = dict[str, Any]
BUILTIN = {
    "ConfigMap",
    "Secret",
    "Deployment",
    "PodDisruptionBudget",
    "PersistentVolumeClaim",
    "NetworkPolicy",
}
STRIMZI = {
    "kafka": {
        "bootstrap": "tooltrail-kafka-kafka-bootstrap.kafka.svc:9093",
        "securityProtocol": "SASL_SSL",
        "saslMechanism": "SCRAM-SHA-512",
        "saslUsername": "tooltrail",
        "passwordSecret": {"name": "tooltrail", "key": "password"},
        "caSecret": {"name": "tooltrail-kafka-cluster-ca-cert", "key": "ca.crt"},
    },
    "chroma": {"tokenSecret": {"name": "chroma-token", "key": "token"}},
    "enrichmentKeySecret": {"name": "tooltrail-enrichment-key", "key": "key"},
    "existingSecret": "tooltrail-secrets",
    "reloadOnSecretChange": True,
}
VARIANTS: dict[str, Doc] = {
    "defaults": {},
    "keda off": {"keda": {"enabled": False}, "groups": {"memory": {"replicas": 3}}},
    "strimzi": STRIMZI,
    "demo and monitoring": {
        "demo": {"enabled": True, "rate": 5},
        "monitoring": {"podMonitor": True, "prometheusRule": True},
    },
    "no network policy": {"networkPolicy": {"enabled": False}},
}
OUT_OF_BAND = {
    "tooltrail",
    "tooltrail-kafka-cluster-ca-cert",
    "chroma-token",
    "tooltrail-secrets",
    "tooltrail-enrichment-key",
}


class _StrictLoader(yaml.SafeLoader):
    """Refuses a mapping with a key twice (PyYAML keeps the last; kubectl refuses it)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    duplicated = {k for k in keys if keys.count(k) > 1}
    if duplicated:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicated}")
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _merge(base: Doc, extra: Doc) -> Doc:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def render(values: Doc, name: str = "tooltrail") -> list[Doc]:
    """The chart's manifests for ``values`` (Helm's own rendering), NOTES excluded."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values, name=name, namespace="tooltrail")
    docs: list[Doc] = []
    for path, text in sorted(files.items()):
        if path.endswith(".yaml"):
            docs += [d for d in yaml.load_all(text, Loader=_StrictLoader) if d]
    return docs


def _topics() -> list[Doc]:
    docs = load_docs(DEPLOY / "k8s" / "topics" / "topics.yaml")
    return [d for d in docs if d["kind"] == "KafkaTopic"]


def _with_local_ca(docs: list[Doc], ca_dir: Path) -> list[Doc]:
    """The CA path exists in the pod; here it points at a stand-in file."""
    (ca_dir / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    for config in by_kind(docs, "ConfigMap"):
        if "TOOLTRAIL_KAFKA_SSL_CAFILE" in config["data"]:
            config["data"]["TOOLTRAIL_KAFKA_SSL_CAFILE"] = str(ca_dir / "ca.crt")
    for dep in by_kind(docs, "Deployment"):
        for mount in dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]:
            if mount["mountPath"] == "/etc/tooltrail/kafka":
                mount["mountPath"] = str(ca_dir)
    return docs


def test_helm_lints_the_chart_without_a_warning() -> None:
    report = helm.lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    for variant in VARIANTS.values():
        report = helm.lint(CHART, variant, strict=True)
        assert report["errors"] == [], report


def test_the_values_schema_refuses_what_cannot_work() -> None:
    for bad in (
        {"kafka": {"securityProtocol": "TLS"}},
        {"kafka": {"bootstrap": "kafka"}},
        {"chroma": {"url": "http://user:pw@chroma:8000"}},
        {"settings": {"KAFKA_BOOTSTRAP": "x:1"}},
        {"groups": {"memroy": {"enabled": True}}},
    ):
        with pytest.raises(helm.HelmError):
            render(bad)


def test_the_chart_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    assert chart["version"] == __version__


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("version", ["1.27.0", "1.37.0"])
def test_every_variant_is_schema_valid(variant: str, version: str) -> None:
    docs = render(VARIANTS[variant])
    for doc in docs:
        if doc["kind"] in BUILTIN:
            kubernetes_validate.validate(doc, version, strict=True)
    assert {"ConfigMap", "Deployment", "PodDisruptionBudget"} <= {d["kind"] for d in docs}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_agrees_with_the_code_and_the_topics(variant: str, tmp_path: Path) -> None:
    docs = _with_local_ca(render(VARIANTS[variant]), tmp_path)
    if variant == "no network policy":
        problems = check_kubernetes(docs, _topics(), OUT_OF_BAND)
        assert problems
        assert all("NetworkPolicy" in p for p in problems)  # and only that is missing
        return
    assert check_kubernetes(docs, _topics(), OUT_OF_BAND) == []


def test_the_chart_s_topics_are_the_manifest_s() -> None:
    from tooltrail.consumers.kafka.topics import pipeline_topics

    [config] = by_kind(render({}), "ConfigMap")
    expected = pipeline_topics(
        "tooltrail.events.v2",
        "tooltrail.events.dlq",
        "tooltrail.enrichment",
        int(config["data"]["TOOLTRAIL_TOPIC_PARTITIONS"]),
        3,
        "tooltrail.status",
    )
    assert check_topics(_topics(), expected) == []


def _templates(docs: list[Doc]) -> dict[str, str]:
    return {
        d["metadata"]["name"]: yaml.safe_dump(d["spec"]["template"])
        for d in by_kind(docs, "Deployment")
    }


def test_a_settings_change_rolls_every_pod() -> None:
    base = {"demo": {"enabled": True}}
    before = _templates(render(base))
    assert _templates(render(base)) == before  # no change, no roll
    after = _templates(render(_merge(base, {"settings": {"TOOLTRAIL_EMBED_THREADS": "2"}})))
    assert set(after) == {f"tooltrail-{n}" for n in ("metrics", "memory", "enrich", "demo")}
    assert all(after[name] != before[name] for name in before)


def test_keda_off_sets_replicas_and_makes_no_scaler() -> None:
    docs = render(VARIANTS["keda off"])
    assert by_kind(docs, "ScaledObject") == []
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in by_kind(docs, "Deployment")}
    assert replicas == {"tooltrail-metrics": 1, "tooltrail-memory": 3, "tooltrail-enrich": 1}
    scaled = render({})
    assert all("replicas" not in d["spec"] for d in by_kind(scaled, "Deployment"))
    maxima = {so["spec"]["maxReplicaCount"] for so in by_kind(scaled, "ScaledObject")}
    assert maxima == {12}
    capped = render({"topicPartitions": 6})
    assert {so["spec"]["maxReplicaCount"] for so in by_kind(capped, "ScaledObject")} == {6}


def test_strimzi_secrets_are_referenced_never_copied() -> None:
    docs = render(STRIMZI)
    for dep in by_kind(docs, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {
            e["name"]: e["valueFrom"].get("secretKeyRef") or e["valueFrom"]["fieldRef"]
            for e in container["env"]
        }
        assert env["TOOLTRAIL_HTTP_HOST"] == {"fieldPath": "status.podIP"}
        assert env["TOOLTRAIL_KAFKA_SASL_PASSWORD"] == {"name": "tooltrail", "key": "password"}
        assert env["TOOLTRAIL_CHROMA_TOKEN"] == {"name": "chroma-token", "key": "token"}
        signing = {"name": "tooltrail-enrichment-key", "key": "key"}
        assert env["TOOLTRAIL_ENRICHMENT_KEY"] == signing  # the demo's server verifies with it
        [ca] = [v for v in pod["volumes"] if v["name"] == "kafka-ca"]
        assert ca["secret"]["secretName"] == "tooltrail-kafka-cluster-ca-cert"
        reload = dep["metadata"]["annotations"]["secret.reloader.stakater.com/reload"]
        assert set(reload.split(",")) == OUT_OF_BAND  # a renewed CA or password restarts it
    [auth] = by_kind(docs, "TriggerAuthentication")
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs["password"] == ("tooltrail", "password")
    assert refs["ca"] == ("tooltrail-kafka-cluster-ca-cert", "ca.crt")
    [keda] = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("keda-kafka")]
    assert keda["stringData"] == {"sasl": "scram_sha512", "username": "tooltrail", "tls": "enable"}
    rendered = yaml.safe_dump_all(docs)
    assert "password:" not in rendered.replace("key: password", "")  # no value, only references


def test_the_demo_runs_the_demo_command_into_the_same_kafka() -> None:
    docs = render(VARIANTS["demo and monitoring"])
    [demo] = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "tooltrail-demo"]
    [container] = demo["spec"]["template"]["spec"]["containers"]
    args = parse_cli(container["args"])
    assert not isinstance(args, str), args
    assert (args.command, args.rate) == ("demo", 5.0)
    assert container["envFrom"][0]["configMapRef"]["name"] == "tooltrail-settings"
    assert "tooltrail-demo" in {p["metadata"]["name"] for p in by_kind(docs, "NetworkPolicy")}


def test_monitoring_resources_are_the_repository_s_with_the_release_label() -> None:
    docs = render(VARIANTS["demo and monitoring"])
    [rule] = by_kind(docs, "PrometheusRule")
    [monitor] = by_kind(docs, "PodMonitor")
    ours = yaml.safe_load((DEPLOY / "monitoring" / "prometheusrule.yaml").read_text())
    assert rule["spec"] == ours["spec"]  # the chart ships the same alerts
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    workers = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] != "tooltrail-demo"]
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    assert all(wanted <= d["spec"]["template"]["metadata"]["labels"].items() for d in workers)
    assert render({})
    assert not by_kind(render({}), "PrometheusRule")


def test_another_release_name_prefixes_every_resource() -> None:
    docs = render({}, name="staging")
    names = {d["metadata"]["name"] for d in docs}
    assert all(n.startswith("staging-tooltrail") for n in names), names
    # the consumer groups do not follow the release name: offsets must survive a rename
    [config] = by_kind(docs, "ConfigMap")
    assert config["data"]["TOOLTRAIL_MEMORY_GROUP"] == "tooltrail-memory"
