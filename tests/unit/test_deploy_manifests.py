"""Every manifest in ``deploy/``: parsed, schema-valid, and consistent with the code.

Built-in Kubernetes kinds are validated strictly (unknown fields fail) against the schemas of
Kubernetes 1.27 and 1.37; the CRDs (KEDA, Strimzi) and everything that ties files together
(commands are real CLI subcommands, variables are real settings whose values load, probes hit
the worker's port, scalers watch the right group and topic, topics match what the workers
create) are checked by ``tests.deploy_checks``. Each check is also shown to catch a break.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy_checks import (
    DEPLOY,
    ROOT,
    by_kind,
    check_acls,
    check_compose,
    check_compose_mounts,
    check_constraints,
    check_dockerfile,
    check_kubernetes,
    check_topics,
    enrichment_key_source,
    load_docs,
    parse_cli,
    render,
)
from tooltrail.consumers.kafka.topics import pipeline_topics

K8S = DEPLOY / "k8s"
Doc = dict[str, Any]
BUILTIN = {
    "ConfigMap",
    "Secret",
    "Deployment",
    "PodDisruptionBudget",
    "PersistentVolumeClaim",
    "Job",
    "NetworkPolicy",
    "ServiceAccount",
    "Role",
    "RoleBinding",
}
#: Created out of band (tooltrail-secrets) or synced from Strimzi's (the other two).
OUT_OF_BAND = {
    "tooltrail-secrets",
    "tooltrail-kafka-ca",
    "tooltrail-kafka-user",
    "tooltrail-enrichment-key",
}


def _topics_for(config: dict[str, str]) -> list[object]:
    return pipeline_topics(
        config["TOOLTRAIL_EVENTS_TOPIC"],
        config["TOOLTRAIL_DLQ_TOPIC"],
        config["TOOLTRAIL_ENRICHMENT_TOPIC"],
        int(config["TOOLTRAIL_TOPIC_PARTITIONS"]),
        int(config["TOOLTRAIL_TOPIC_REPLICATION"]),
        config["TOOLTRAIL_STATUS_TOPIC"],
    )


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    """Stands in for the mounted Kafka CA (settings check that the file exists)."""
    path = tmp_path / "ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_every_yaml_file_parses_and_names_its_kind() -> None:
    helm = DEPLOY / "helm"  # templates, values, Chart.yaml: Helm's (test_helm_chart.py)
    files = sorted(p for p in DEPLOY.rglob("*.yaml") if helm not in p.parents)
    assert len(files) >= 15
    for path in files:
        for doc in load_docs(path):
            assert isinstance(doc, (dict, list)), path
            if isinstance(doc, dict) and path.name != "compose.yaml":
                assert "kind" in doc or "$patch" in doc, path


EXPECTED_KINDS = {
    "base": BUILTIN - {"Job", "ServiceAccount", "Role", "RoleBinding"},
    # the Secret is created out of band; the account reads Strimzi's Secrets for the sync
    "overlays/production": BUILTIN - {"Job", "Secret", "Role", "RoleBinding"},
    "jobs": {"Job", "PersistentVolumeClaim"},
    "topics": {"Role", "RoleBinding"},  # beside the KafkaTopics: what the sync may read
}


@pytest.mark.parametrize("overlay", list(EXPECTED_KINDS))
@pytest.mark.parametrize("version", ["1.27.0", "1.37.0"])
def test_builtin_kinds_are_schema_valid(overlay: str, version: str) -> None:
    docs = render(K8S / overlay)
    checked = [d for d in docs if d["kind"] in BUILTIN]
    assert {d["kind"] for d in checked} == EXPECTED_KINDS[overlay]
    for doc in checked:
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    [dep] = [
        d
        for d in by_kind(render(K8S / "base"), "Deployment")
        if d["metadata"]["name"] == "tooltrail-memory"
    ]
    broken = copy.deepcopy(dep)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbes"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


def _check(
    overlay: str, ca_file: Path, mutate: Callable[[list[Doc]], object] | None = None
) -> list[str]:
    docs = render(K8S / overlay)
    for config in by_kind(docs, "ConfigMap"):
        if "TOOLTRAIL_KAFKA_SSL_CAFILE" in config["data"]:  # the real path exists in the pod
            config["data"]["TOOLTRAIL_KAFKA_SSL_CAFILE"] = str(ca_file)
            for dep in by_kind(docs, "Deployment"):
                mounts = dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
                for m in mounts:
                    if m["mountPath"] == "/etc/tooltrail/kafka":
                        m["mountPath"] = str(ca_file.parent)
    if mutate is not None:
        mutate(docs)
    topics = [t for t in load_docs(K8S / "topics" / "topics.yaml") if t["kind"] == "KafkaTopic"]
    external = OUT_OF_BAND if "overlays" in overlay else set()
    return check_kubernetes(docs, topics, external)


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_kubernetes_resources_agree_with_each_other_and_the_code(
    overlay: str, ca_file: Path
) -> None:
    assert _check(overlay, ca_file) == []


def test_production_overlay_secures_kafka_and_keeps_secrets_out_of_git() -> None:
    docs = render(K8S / "overlays" / "production")
    assert by_kind(docs, "Secret") == []  # created out of band, never applied from git
    for config in by_kind(docs, "ConfigMap"):
        assert config["data"]["TOOLTRAIL_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert config["data"]["TOOLTRAIL_KAFKA_SASL_MECHANISM"].startswith("SCRAM-SHA-")
    assert all(d["metadata"]["namespace"] == "tooltrail" for d in docs)
    for so in by_kind(docs, "ScaledObject"):
        assert so["spec"]["triggers"][0]["authenticationRef"]["name"] == "tooltrail-kafka"
    for dep in by_kind(docs, "Deployment"):  # the overlay's env adds to the base's
        env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        signs = (
            {"TOOLTRAIL_ENRICHMENT_KEY"} if dep["metadata"]["name"] == "tooltrail-enrich" else set()
        )
        assert env == {"TOOLTRAIL_HTTP_HOST", "TOOLTRAIL_KAFKA_SASL_PASSWORD", *signs}
    images = {
        c["image"]
        for d in by_kind(docs, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.com/platform/tooltrail:0.2.0"}


def _container(docs: list[Doc], group: str) -> Doc:
    return _deployment(docs, group)["spec"]["template"]["spec"]["containers"][0]


class _AllSettings:
    """Updates every ConfigMap of a rendered set (the stable and the hashed one) alike."""

    def __init__(self, docs: list[Doc]) -> None:
        self.maps = [c["data"] for c in by_kind(docs, "ConfigMap")]

    def update(self, **values: str) -> None:
        for data in self.maps:
            data.update(values)


def _settings(docs: list[Doc]) -> _AllSettings:
    return _AllSettings(docs)


def _deployment(docs: list[Doc], group: str) -> Doc:
    [dep] = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith(group)]
    return dep


def _trigger(docs: list[Doc], group: str) -> Doc:
    return _scaled(docs, group)["triggers"][0]["metadata"]  # type: ignore[no-any-return]


def _policy(docs: list[Doc]) -> Doc:
    return by_kind(docs, "NetworkPolicy")[0]["spec"]


def _scaled(docs: list[Doc], group: str) -> Doc:
    [so] = [d for d in by_kind(docs, "ScaledObject") if d["metadata"]["name"].endswith(group)]
    return so["spec"]  # type: ignore[no-any-return]


BREAKS: dict[str, Callable[[list[Doc]], object]] = {
    "args not a CLI command": lambda d: _container(d, "metrics").update(args=["worker", "metricz"]),
    "unknown setting": lambda d: _settings(d).update(TOOLTRAIL_KAFKA_BOOTSTRAPS="x:9092"),
    "invalid setting value": lambda d: _settings(d).update(TOOLTRAIL_HEARTBEAT_INTERVAL_MS="20000"),
    "probe on the wrong path": lambda d: _container(d, "memory")["livenessProbe"]["httpGet"].update(
        path="/metrics"
    ),
    "scaler watching another group": lambda d: _scaled(d, "enrich")["triggers"][0][
        "metadata"
    ].update(consumerGroup="tooltrail-other"),
    "more replicas than partitions": lambda d: _scaled(d, "metrics").update(maxReplicaCount=40),
    "PDB selecting nothing": lambda d: by_kind(d, "PodDisruptionBudget")[0]["spec"]["selector"][
        "matchLabels"
    ].update({"app.kubernetes.io/name": "nope"}),
    "metrics dir not writable": lambda d: _container(d, "metrics")["volumeMounts"].pop(),
    "replicas on a scaled Deployment": lambda d: _deployment(d, "memory")["spec"].update(
        replicas=1
    ),
    "bootstrap repeated in a scaler": lambda d: _scaled(d, "memory")["triggers"][0]["metadata"].pop(
        "bootstrapServersFromEnv"
    ),
    "scaler adding idle pods": lambda d: _scaled(d, "enrich")["triggers"][0]["metadata"].pop(
        "limitToPartitionsWithLag"
    ),
    "grace past the pod's": lambda d: _settings(d).update(TOOLTRAIL_SHUTDOWN_GRACE_S="90"),
    "a model loaded without a startupProbe": lambda d: _deployment(d, "memory")["spec"]["template"][
        "spec"
    ]["containers"][0].pop("startupProbe"),
    "no spread over nodes": lambda d: _deployment(d, "enrich")["spec"]["template"]["spec"].pop(
        "topologySpreadConstraints"
    ),
    "Kafka's port closed": lambda d: _policy(d)["egress"].pop(0),
    "nobody may scrape": lambda d: _policy(d).pop("ingress"),
    "two settings that differ": lambda d: by_kind(d, "ConfigMap")[0]["data"].update(
        TOOLTRAIL_EMBEDDER="hashing"
    ),
    "endpoint on loopback": lambda d: _container(d, "metrics").pop("env"),
}


CAUGHT_AS = {
    "args not a CLI command": "invalid choice: 'metricz'",
    "unknown setting": "TOOLTRAIL_KAFKA_BOOTSTRAPS is not a tooltrail setting",
    "invalid setting value": "HEARTBEAT_INTERVAL_MS must be at most a third",
    "probe on the wrong path": "livenessProbe should GET /healthz",
    "scaler watching another group": "consumerGroup 'tooltrail-other'",
    "more replicas than partitions": "must fit the topic's 12 partitions",
    "PDB selecting nothing": "selects []",
    "metrics dir not writable": "/var/lib/tooltrail/metrics is not writable",
    "replicas on a scaled Deployment": "sets replicas, which KEDA owns",
    "bootstrap repeated in a scaler": "bootstrapServersFromEnv None",
    "scaler adding idle pods": "limitToPartitionsWithLag None",
    "grace past the pod's": "TOOLTRAIL_SHUTDOWN_GRACE_S is not under",
    "a model loaded without a startupProbe": "tooltrail-memory: loads a model but has no",
    "no spread over nodes": "tooltrail-enrich: no topologySpreadConstraints",
    "Kafka's port closed": "NetworkPolicy egress misses port 9092",
    "nobody may scrape": "NetworkPolicy lets no one scrape",
    "two settings that differ": "hold different settings",
    "endpoint on loopback": "tooltrail-metrics: the HTTP endpoint binds loopback",
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_the_checks_catch_a_broken_manifest(name: str, ca_file: Path) -> None:
    problems = _check("base", ca_file, BREAKS[name])
    assert any(CAUGHT_AS[name] in p for p in problems), problems


def test_topic_manifest_matches_what_the_workers_create() -> None:
    config = by_kind(render(K8S / "base"), "ConfigMap")[0]
    expected = _topics_for(config["data"])
    topics = [t for t in render(K8S / "topics") if t["kind"] == "KafkaTopic"]
    assert check_topics(topics, expected) == []  # type: ignore[arg-type]
    enrichment = next(t for t in topics if t["spec"]["topicName"] == "tooltrail.enrichment")
    assert enrichment["spec"]["config"]["cleanup.policy"] == "compact"
    assert {t["spec"]["replicas"] for t in topics} == {3}
    assert {t["spec"]["config"]["min.insync.replicas"] for t in topics} == {2}
    assert {t["metadata"]["namespace"] for t in topics} == {"kafka"}
    broken = copy.deepcopy(topics)
    [compacted] = [t for t in broken if t["spec"]["topicName"] == "tooltrail.enrichment"]
    compacted["spec"]["config"]["cleanup.policy"] = "delete"
    assert check_topics(broken, expected) != []  # type: ignore[arg-type]


def test_compose_runs_kraft_kafka_chroma_each_group_and_the_demo() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    expected = pipeline_topics(
        "tooltrail.events.v2",
        "tooltrail.events.dlq",
        "tooltrail.enrichment",
        6,
        1,
        "tooltrail.status",
    )
    assert check_compose(compose, expected) == []
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "tooltrail.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    from tests.deploy_checks import check_settings_env

    assert check_settings_env(example, "tooltrail.env.example") == []
    for break_it in (
        lambda c: c["services"]["worker-enrich"].update(command=["worker", "enrichment"]),
        lambda c: c["services"]["kafka"]["environment"].update(KAFKA_PROCESS_ROLES="broker"),
        lambda c: c["services"]["topics"].update(command=["true"]),
        lambda c: c["services"]["demo"]["environment"].update(TOOLTRAIL_RATE="5"),
        lambda c: c["services"].pop("worker-memory"),
        lambda c: c["services"]["worker-memory"].update(ports=["127.0.0.1:9102:9100"]),
        lambda c: c["services"]["kafka"].update(ports=["9094:9094"]),  # every interface
        lambda c: c["services"]["chroma"].update(ports=["0.0.0.0:8000:8000"]),
    ):
        broken = copy.deepcopy(compose)
        break_it(broken)
        assert check_compose(broken, expected) != []


def test_compose_volumes_mount_where_the_image_user_can_write() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert check_compose_mounts(compose, dockerfile) == []
    mounted = {
        m.split(":")[1]
        for s in compose["services"].values()
        for m in s.get("volumes", [])
        if s.get("image") == "tooltrail:local"
    }
    assert "/var/lib/tooltrail/metrics" in mounted
    without = dockerfile.replace(" /var/lib/tooltrail/metrics", "")
    assert any("/var/lib/tooltrail/metrics" in p for p in check_compose_mounts(compose, without))


def test_dockerfile_builds_one_non_root_image_with_the_cli_as_entrypoint() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert check_dockerfile(text, pyproject) == []
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"schemas", "producer", "consumers", "pyproject.toml"} & set(ignored)
    assert check_dockerfile(text.replace("USER 10001:10001", "USER root"), pyproject) != []
    assert check_dockerfile(text.replace('["tooltrail"]', '["python"]'), pyproject) != []
    assert check_dockerfile(text.replace("COPY schemas/", "COPY schema/"), pyproject) != []
    unpinned = re.sub(r"@sha256:[0-9a-f]{64}", "", text)
    assert any("not pinned by digest" in p for p in check_dockerfile(unpinned, pyproject))
    loose = text.replace("-c deploy/constraints.txt ", "")
    assert any("without -c" in p for p in check_dockerfile(loose, pyproject))
    assert "!deploy/constraints.txt" in ignored  # the build context keeps the constraints


def test_the_image_build_pins_every_dependency_and_images_by_digest() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    constraints = (DEPLOY / "constraints.txt").read_text()
    assert check_constraints(constraints, pyproject, ("mcp", "memory")) == []
    assert "aiokafka==" in constraints
    assert check_constraints("pydantic==2.14.3\n", pyproject, ("memory",)) != []
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    foreign = {
        s["image"]
        for s in compose["services"].values()
        if s.get("image", "tooltrail:local") != "tooltrail:local"
    }
    assert foreign
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", image) for image in foreign)


def test_replay_job_rebuilds_memory_with_the_workers_settings() -> None:
    docs = render(K8S / "jobs")
    [job] = by_kind(docs, "Job")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = parse_cli(container["args"])
    assert not isinstance(args, str), args
    assert (args.command, args.target, args.swap) == ("replay", "memory", True)
    refs = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
    assert refs == ["tooltrail-settings", "tooltrail-secrets"]  # the workers' own settings
    [state] = [e["value"] for e in container["env"] if e["name"] == "TOOLTRAIL_STATE_DIR"]
    claims = {
        v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["volumes"]
    }
    mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert claims[mounted[state]] == "tooltrail-replay-state"  # a retried pod resumes
    assert mounted["/etc/tooltrail/kafka"] == "kafka-ca"  # where the production CA lives


STABLE = "tooltrail-settings"


def _pod_templates(docs: list[Doc]) -> dict[str, str]:
    return {
        d["metadata"]["name"]: yaml.safe_dump(d["spec"]["template"])
        for d in by_kind(docs, "Deployment")
    }


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_a_settings_change_rolls_every_worker(overlay: str, tmp_path: Path) -> None:
    """Kubernetes rolls a Deployment when its pod template changes: a changed setting must
    change every worker's template (the hashed ConfigMap name), and nothing else must."""
    import shutil as sh

    copy_root = tmp_path / "k8s"
    sh.copytree(K8S, copy_root)
    before = _pod_templates(render(copy_root / overlay))
    same = _pod_templates(render(copy_root / overlay))
    assert before == same  # rendering is stable: no roll without a change
    env = copy_root / ("base" if overlay == "base" else overlay) / "settings.env"
    text = env.read_text()
    if "TOOLTRAIL_EMBED_THREADS=1" in text:
        env.write_text(text.replace("TOOLTRAIL_EMBED_THREADS=1", "TOOLTRAIL_EMBED_THREADS=2"))
    else:  # an overlay: its value wins over the base's
        env.write_text(text + "TOOLTRAIL_EMBED_THREADS=2\n")
    after = _pod_templates(render(copy_root / overlay))
    assert set(after) == set(before) == {f"tooltrail-{g}" for g in ("metrics", "memory", "enrich")}
    assert all(after[name] != before[name] for name in before)
    docs = render(copy_root / overlay)
    stable = [
        c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"] == "tooltrail-settings"
    ]
    assert stable[0]["data"]["TOOLTRAIL_EMBED_THREADS"] == "2"  # the Job's copy follows too


ACL_TOPICS = {
    "events": "tooltrail.events.v2",
    "dlq": "tooltrail.events.dlq",
    "enrichment": "tooltrail.enrichment",
    "status": "tooltrail.status",
}


def test_kafka_acls_per_role_let_only_the_enrich_group_write_entries() -> None:
    users = by_kind(render(K8S / "acl"), "KafkaUser")
    assert check_acls(users, ACL_TOPICS) == []
    assert all(u["metadata"]["namespace"] == "kafka" for u in users)
    role = {u["metadata"]["labels"]["tooltrail.dev/role"]: copy.deepcopy(u) for u in users}
    tool_server, enrich, worker = role["tool-server"], role["enrich"], role["worker"]
    tool_server["spec"]["authorization"]["acls"][1]["operations"].append("Write")
    problems = check_acls([tool_server, enrich, worker], ACL_TOPICS)
    assert "only the enrich group" in " ".join(problems)
    fresh = {u["metadata"]["labels"]["tooltrail.dev/role"]: u for u in users}
    worker["spec"]["authorization"]["acls"][0]["resource"]["patternType"] = "prefix"
    assert check_acls([fresh["tool-server"], enrich, worker], ACL_TOPICS) != []
    assert check_acls(users[:2], ACL_TOPICS) != []  # a role without its user


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_only_the_enrich_worker_reads_the_signing_key_from_a_secret(overlay: str) -> None:
    docs = render(K8S / overlay)
    sources = {d["metadata"]["name"]: enrichment_key_source(d) for d in by_kind(docs, "Deployment")}
    assert sources.pop("tooltrail-enrich") == "tooltrail-enrichment-key"
    assert set(sources.values()) == {None}
    assert not any(
        d["metadata"]["name"] == "tooltrail-enrichment-key" for d in by_kind(docs, "Secret")
    )


def test_compose_gives_the_enrich_group_and_the_demo_one_key_from_a_secret() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["secrets"]["enrichment_key"] == {"file": "./enrichment.key"}
    services = compose["services"]
    for name in ("worker-enrich", "demo"):
        assert services[name]["secrets"] == ["enrichment_key"], name
        env = services[name]["environment"]
        assert env["TOOLTRAIL_ENRICHMENT_KEY_FILE"] == "/run/secrets/enrichment_key", name
    assert "enrichment.key" in (ROOT / ".gitignore").read_text()
