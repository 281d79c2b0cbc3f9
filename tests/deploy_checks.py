"""Reading and checking ``deploy/``: rendering with the real tools and the cross-file checks.

``render`` is ``kubectl kustomize`` (kustomize v5, built into kubectl); the Helm chart is
rendered by Helm's own Go SDK (``helm_python``) in its test. Each ``check_*`` returns a list
of problems (empty = fine), so tests can also show that a broken manifest is caught.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tooltrail.consumers.app.cli import build_parser
from tooltrail.consumers.kafka.topics import TopicSpec
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.config import env_names, load_settings

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
GROUPS = ("metrics", "memory", "enrich")
HTTP_PORT = 9100
Doc = dict[str, Any]

#: KEDA kafka scaler trigger metadata and TriggerAuthentication parameters (KEDA 2.x docs).
KEDA_KAFKA_METADATA = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "topic",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "partitionLimitation",
    "sasl",
    "tls",
    "version",
}
KEDA_KAFKA_AUTH = {"sasl", "username", "password", "tls", "ca", "cert", "key", "keyPassword"}


@functools.cache
def setting_names() -> frozenset[str]:
    """Every environment variable a tooltrail process reads."""
    return frozenset(
        name
        for cls in (WorkerSettings, ProducerSettings)
        for field in cls.model_fields
        for name in env_names(cls, field)
    )


# ---------------------------------------------------------------- rendering with the real tools


def load_docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def kubectl() -> str:
    """The kubectl binary (its built-in kustomize renders the overlays)."""
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError(
            "kubectl is needed to render deploy/k8s (its kustomize): install kubectl "
            "(it is in this project's machine image; see README, 'Run the tests')"
        )
    return found


def render(directory: Path) -> list[Doc]:
    """The resources ``kubectl kustomize directory`` prints (as dicts)."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


# ---------------------------------------------------------------- checks of rendered manifests


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def parse_cli(argv: list[str]) -> argparse.Namespace | str:
    """The parsed command line, or the error argparse would print."""
    parser = build_parser()
    parser.exit_on_error = False
    for action in parser._actions:  # the subparsers must not exit either
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.exit_on_error = False
    try:
        return parser.parse_args(argv)
    except (argparse.ArgumentError, SystemExit) as exc:
        return f"{' '.join(argv)!r}: {exc}"


@functools.cache
def _mounted_key() -> Path:
    """Stands in for a key file that a container gets mounted (a compose or Kubernetes Secret)."""
    path = Path(tempfile.mkdtemp(prefix="tooltrail-deploy-")) / "enrichment_key"
    path.write_text("k" * 64 + "\n")
    return path


def check_settings_env(env: dict[str, str], where: str) -> list[str]:
    """Every variable is a setting, and together they make valid settings."""
    known = setting_names()
    problems = [f"{where}: {name} is not a tooltrail setting" for name in env if name not in known]
    values = {k: v for k, v in env.items() if k in known}
    if values.get("TOOLTRAIL_ENRICHMENT_KEY_FILE", "").startswith("/run/secrets/"):
        values["TOOLTRAIL_ENRICHMENT_KEY_FILE"] = str(_mounted_key())  # a Secret mounted there
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n in known]:
            del os.environ[name]
        os.environ.update(values)
        load_settings(WorkerSettings)
        load_settings(ProducerSettings)
    except Exception as exc:  # noqa: BLE001 - reported as a problem, with the message
        problems.append(f"{where}: {exc}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return problems


#: Groups that load an embedding model at start: they need a startupProbe.
MODEL_GROUPS = ("memory", "enrich")


def worker_env(dep: Doc, configs: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """The settings a worker Deployment's pods get from ConfigMaps (None: one is missing)."""
    [container] = dep["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        if "configMapRef" in ref:
            data = configs.get(ref["configMapRef"]["name"])
            if data is None:
                return None
            env.update(data)
    return env


def check_kubernetes(docs: list[Doc], topics: list[Doc], external_secrets: set[str]) -> list[str]:
    """Cross-resource checks of one rendered set (base, an overlay, the chart) against the
    topics: commands, settings, probes, scalers, spread, network policy."""
    problems: list[str] = []
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    problems += [f"duplicate {k}" for k in {n for n in names if names.count(n) > 1}]
    configs = {
        d["metadata"]["name"]: {k: str(v) for k, v in d.get("data", {}).items()}
        for d in by_kind(docs, "ConfigMap")
    }
    if len({tuple(sorted(c.items())) for c in configs.values()}) > 1:
        problems.append(f"ConfigMaps {sorted(configs)} hold different settings")
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    for_keda = {
        ref["name"]
        for auth in by_kind(docs, "TriggerAuthentication")
        for ref in auth["spec"].get("secretTargetRef", [])
    }
    for secret in secrets.values():
        if secret["metadata"]["name"] in for_keda:  # KEDA's parameters, not settings
            continue
        for key in secret.get("stringData", {}) | secret.get("data", {}):
            if key not in setting_names():
                problems.append(f"Secret {secret['metadata']['name']}: {key} is not a setting")
    deployments = {
        d["metadata"]["name"]: d
        for d in by_kind(docs, "Deployment")
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == "worker"
    }
    groups: dict[str, str] = {}
    envs: dict[str, dict[str, str]] = {}
    scaled = by_kind(docs, "ScaledObject") != []  # KEDA on: it owns the replica counts
    known = set(secrets) | external_secrets
    for name, dep in deployments.items():
        env = worker_env(dep, configs)
        if env is None:
            problems.append(f"{name}: a ConfigMap it reads is not in the set")
            continue
        envs[name] = env
        problems += _check_deployment(name, dep, env, known, groups, scaled)
    if sorted(groups.values()) != sorted(GROUPS):
        problems.append(f"worker Deployments run {sorted(groups.values())}: want {GROUPS}")
    env = next(iter(envs.values()), {})
    problems += _check_pdbs(by_kind(docs, "PodDisruptionBudget"), deployments)
    partitions = {t["spec"]["topicName"]: int(t["spec"]["partitions"]) for t in topics}
    auths = {d["metadata"]["name"]: d for d in by_kind(docs, "TriggerAuthentication")}
    problems += _check_scaled_objects(by_kind(docs, "ScaledObject"), groups, env, partitions, auths)
    for auth in auths.values():
        params = {ref["parameter"] for ref in auth["spec"].get("secretTargetRef", [])}
        problems += [
            f"TriggerAuthentication: unknown parameter {p}" for p in params - KEDA_KAFKA_AUTH
        ]
        if (
            env.get("TOOLTRAIL_KAFKA_SECURITY_PROTOCOL", "").startswith("SASL")
            and not {"sasl", "username", "password"} <= params
        ):
            problems.append("TriggerAuthentication: SASL Kafka but no sasl/username/password")
    problems += check_network_policies(by_kind(docs, "NetworkPolicy"), deployments, env)
    return problems


def check_network_policies(
    policies: list[Doc], deployments: dict[str, Doc], env: dict[str, str]
) -> list[str]:
    """Every worker is under a policy that lets it reach Kafka, Chroma and DNS and be scraped."""
    problems = []
    kafka_ports = {
        int(a.rsplit(":", 1)[1])
        for a in env.get("TOOLTRAIL_KAFKA_BOOTSTRAP", "").split(",")
        if ":" in a
    }
    chroma = urlsplit(env.get("TOOLTRAIL_CHROMA_URL", ""))
    needed = (
        kafka_ports
        | ({chroma.port or (443 if chroma.scheme == "https" else 80)} if chroma.scheme else set())
        | {53}
    )
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        mine = [
            p
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
        ]
        if not mine:
            problems.append(f"{name}: no NetworkPolicy selects its pods")
            continue
        egress = {
            port.get("port")
            for p in mine
            for rule in p["spec"].get("egress", [])
            for port in rule.get("ports", [])
        }
        ingress = {
            port.get("port")
            for p in mine
            for rule in p["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }
        problems += [
            f"{name}: NetworkPolicy egress misses port {n}" for n in sorted(needed - egress)
        ]
        if not ingress & {"http", HTTP_PORT}:
            problems.append(f"{name}: NetworkPolicy lets no one scrape its http port")
    return problems


def _check_deployment(
    name: str,
    dep: Doc,
    env: dict[str, str],
    secrets: set[str],
    groups: dict[str, str],
    scaled: bool = True,
) -> list[str]:
    problems: list[str] = []
    pod = dep["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = parse_cli(container.get("args", []))
    if isinstance(args, str) or args.command != "worker":
        return [f"{name}: args are not a `tooltrail worker` command: {args}"]
    groups[name] = args.group
    if not name.endswith(f"-{args.group}"):
        problems.append(f"{name}: runs group {args.group}")
    if "replicas" in dep["spec"] and scaled:
        problems.append(f"{name}: sets replicas, which KEDA owns (an apply would reset them)")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if float(env.get("TOOLTRAIL_SHUTDOWN_GRACE_S", "25")) >= grace:
        problems.append(
            f"{name}: TOOLTRAIL_SHUTDOWN_GRACE_S is not under its "
            f"terminationGracePeriodSeconds ({grace})"
        )
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if args.metrics_port != ports.get("http"):
        problems.append(f"{name}: --metrics-port {args.metrics_port} but http port {ports}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        got = container.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") not in ("http", args.metrics_port):
            problems.append(f"{name}: {probe} should GET {path} on the worker's port, got {got}")
    problems += _check_http_host(name, container, env)
    problems += _check_startup(name, args.group, container, env)
    problems += _check_spread(name, dep)
    for ref in container.get("envFrom", []):
        if "secretRef" in ref and ref["secretRef"]["name"] not in secrets:
            problems.append(
                f"{name}: Secret {ref['secretRef']['name']} is neither here nor "
                "documented as created out of band"
            )
    problems += check_settings_env(env, f"{name} environment")
    selector = dep["spec"]["selector"]["matchLabels"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in selector.items()):
        problems.append(f"{name}: selector {selector} does not match the pod labels")
    if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
        problems.append(f"{name}: pods must run as non-root")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"] for v in pod.get("volumes", [])}
    problems += [f"{name}: mount {m} has no volume" for m in set(mounts.values()) - volumes]
    writable = ["/tmp", env.get("TOOLTRAIL_STATE_DIR", "")]
    if args.group == "metrics":
        writable.append(env.get("TOOLTRAIL_METRICS_DIR", ""))
    if container.get("securityContext", {}).get("readOnlyRootFilesystem"):
        problems += [
            f"{name}: {p} is not writable (read-only root, no volume)"
            for p in writable
            if p not in mounts
        ]
    cafile = env.get("TOOLTRAIL_KAFKA_SSL_CAFILE")
    if cafile and str(Path(cafile).parent) not in mounts:
        problems.append(f"{name}: {cafile} is not on a mounted volume")
    if ":" not in container["image"]:
        problems.append(f"{name}: image {container['image']} has no tag")
    return problems


def _check_http_host(name: str, container: Doc, env: dict[str, str]) -> list[str]:
    """The kubelet's probes and Prometheus come from outside the pod: no loopback bind."""
    explicit = {e["name"]: e for e in container.get("env", [])}
    entry = explicit.get("TOOLTRAIL_HTTP_HOST")
    if entry is not None and entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") in (
        "status.podIP",
        "status.podIPs",
    ):
        return []
    host = str(entry.get("value")) if entry is not None else env.get("TOOLTRAIL_HTTP_HOST", "")
    if host in ("", "127.0.0.1", "localhost", "::1"):
        return [f"{name}: the HTTP endpoint binds loopback: probes and scrapes cannot reach it"]
    return []


def _check_startup(name: str, group: str, container: Doc, env: dict[str, str]) -> list[str]:
    """A group that loads a model has minutes to start before liveness may kill it."""
    if group not in MODEL_GROUPS or env.get("TOOLTRAIL_EMBEDDER", "minilm") == "hashing":
        return []
    probe = container.get("startupProbe", {})
    allowed = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
    if probe.get("httpGet", {}).get("path") != "/healthz" or allowed < 120:
        return [f"{name}: loads a model but has no startupProbe on /healthz allowing >= 120 s"]
    return []


def _check_spread(name: str, dep: Doc) -> list[str]:
    """The group's pods spread over nodes (a node lost takes few partitions)."""
    labels = dep["spec"]["template"]["metadata"]["labels"]
    for c in dep["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
        selector = c.get("labelSelector", {}).get("matchLabels", {})
        if (
            c.get("topologyKey") == "kubernetes.io/hostname"
            and selector
            and (selector.items() <= labels.items())
        ):
            return []
    return [f"{name}: no topologySpreadConstraints over kubernetes.io/hostname for its pods"]


def _check_pdbs(pdbs: list[Doc], deployments: dict[str, Doc]) -> list[str]:
    problems = []
    covered = set()
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"]
        hits = [
            n
            for n, d in deployments.items()
            if all(
                d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items()
            )
        ]
        if len(hits) != 1:
            problems.append(f"PDB {pdb['metadata']['name']} selects {hits}")
        covered.update(hits)
        if pdb["spec"].get("maxUnavailable") != 1:
            problems.append(
                f"PDB {pdb['metadata']['name']}: maxUnavailable 1 keeps 1 pod drainable"
            )
    problems += [f"Deployment {n} has no PDB" for n in set(deployments) - covered]
    return problems


def _check_scaled_objects(
    scaled: list[Doc],
    groups: dict[str, str],
    env: dict[str, str],
    partitions: dict[str, int],
    auths: dict[str, Doc],
) -> list[str]:
    problems = []
    targets = set()
    for so in scaled:
        name, spec = so["metadata"]["name"], so["spec"]
        target = spec["scaleTargetRef"]["name"]
        targets.add(target)
        if target not in groups:
            problems.append(f"ScaledObject {name} scales unknown {target}")
            continue
        [trigger] = spec["triggers"]
        meta = trigger["metadata"]
        group_var = f"TOOLTRAIL_{groups[target].upper()}_GROUP"
        env = {**_defaults(group_var, "TOOLTRAIL_EVENTS_TOPIC"), **env}
        bootstrap = env.get(str(meta.get("bootstrapServersFromEnv")), meta.get("bootstrapServers"))
        expected = {
            "type": ("kafka", trigger["type"]),
            "consumerGroup": (env.get(group_var), meta.get("consumerGroup")),
            "topic": (env.get("TOOLTRAIL_EVENTS_TOPIC"), meta.get("topic")),
            "bootstrapServers": (env.get("TOOLTRAIL_KAFKA_BOOTSTRAP"), bootstrap),
            "bootstrapServersFromEnv": (
                "TOOLTRAIL_KAFKA_BOOTSTRAP",
                meta.get("bootstrapServersFromEnv"),
            ),
            "limitToPartitionsWithLag": ("true", meta.get("limitToPartitionsWithLag")),
        }
        problems += [
            f"ScaledObject {name}: {k} {got!r}, settings say {want!r}"
            for k, (want, got) in expected.items()
            if want != got
        ]
        problems += [
            f"ScaledObject {name}: unknown kafka metadata {k}"
            for k in set(meta) - KEDA_KAFKA_METADATA
        ]
        if not str(meta.get("lagThreshold", "")).isdigit() or int(meta["lagThreshold"]) < 1:
            problems.append(f"ScaledObject {name}: lagThreshold must be a positive integer")
        topic_partitions = partitions.get(str(meta.get("topic")), 0)
        if not 1 <= spec.get("minReplicaCount", 0) <= spec["maxReplicaCount"] <= topic_partitions:
            problems.append(
                f"ScaledObject {name}: replicas {spec.get('minReplicaCount')}.."
                f"{spec['maxReplicaCount']} must fit the topic's "
                f"{topic_partitions} partitions"
            )
        ref = trigger.get("authenticationRef", {}).get("name")
        if ref is not None and ref not in auths:
            problems.append(f"ScaledObject {name}: TriggerAuthentication {ref} missing")
        if env.get("TOOLTRAIL_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") != "PLAINTEXT" and ref is None:
            problems.append(f"ScaledObject {name}: secured Kafka but no authenticationRef")
    if scaled:  # KEDA off (the chart's keda.enabled=false): Deployments set their replicas
        problems += [f"Deployment {n} has no ScaledObject" for n in set(groups) - targets]
    return problems


def _defaults(*names: str) -> dict[str, str]:
    """The workers' default for each variable (what an unset one means)."""
    fields = {env_names(WorkerSettings, f)[0]: f for f in WorkerSettings.model_fields}
    return {n: str(WorkerSettings.model_fields[fields[n]].default) for n in names}


def check_topics(topics: list[Doc], expected: list[TopicSpec]) -> list[str]:
    """The topic manifest matches what the workers would create, with durable settings."""
    problems = []
    got = {t["spec"]["topicName"]: t for t in topics if t["kind"] == "KafkaTopic"}
    if set(got) != {s.name for s in expected}:
        return [f"topics {sorted(got)}, want {sorted(s.name for s in expected)}"]
    for spec in expected:
        t = got[spec.name]
        if t["apiVersion"] != "kafka.strimzi.io/v1" or "strimzi.io/cluster" not in t[
            "metadata"
        ].get("labels", {}):
            problems.append(f"{spec.name}: not a Strimzi KafkaTopic with a cluster label")
        config = {k: str(v) for k, v in t["spec"].get("config", {}).items()}
        if (t["spec"]["partitions"], t["spec"]["replicas"]) != (spec.partitions, spec.replication):
            problems.append(
                f"{spec.name}: {t['spec']['partitions']} partitions x "
                f"{t['spec']['replicas']} replicas, want {spec.partitions} x "
                f"{spec.replication}"
            )
        problems += [
            f"{spec.name}: {k}={config.get(k)}, want {v}"
            for k, v in spec.configs.items()
            if config.get(k) != v
        ]
    return problems


# ---------------------------------------------------------------- compose and Dockerfile


def check_compose(compose: Doc, expected_topics: list[TopicSpec]) -> list[str]:
    problems: list[str] = []
    services: dict[str, Doc] = compose["services"]
    kafka = services.get("kafka", {})
    kenv = kafka.get("environment", {})
    if not str(kafka.get("image", "")).startswith("apache/kafka:"):
        problems.append("kafka: want the apache/kafka image")
    if "controller" not in str(kenv.get("KAFKA_PROCESS_ROLES")) or any(
        "ZOOKEEPER" in k for k in kenv
    ):
        problems.append("kafka: want KRaft (process roles with controller, no ZooKeeper)")
    volumes = set(compose.get("volumes") or {})
    seen_groups = set()
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")) and source not in volumes:
                problems.append(f"{name}: volume {source} is not declared")
        if svc.get("image") != "tooltrail:local":
            continue
        build = svc.get("build", {})
        if not (DEPLOY / build.get("context", "") / build.get("dockerfile", "")).is_file():
            problems.append(f"{name}: build context/dockerfile do not exist")
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        if svc.get("entrypoint"):  # a non-tooltrail program from the same image (chroma)
            continue
        problems += check_settings_env(env, f"compose {name}")
        args = parse_cli([str(a) for a in svc.get("command", [])])
        if isinstance(args, str):
            problems.append(f"compose {name}: {args}")
            continue
        if args.command == "worker":
            seen_groups.add(args.group)
            if name != f"worker-{args.group}":
                problems.append(f"compose {name}: runs group {args.group}")
            published = [published_port(str(p)) for p in svc.get("ports", [])]
            if not any(container == str(args.metrics_port) for _, _, container in published):
                problems.append(f"compose {name}: port {args.metrics_port} is not published")
            if any("-" not in host for _, host, _ in published):
                problems.append(
                    f"compose {name}: a fixed host port clashes when scaled; "
                    "publish a range (e.g. 127.0.0.1:9120-9129:9100)"
                )
            test = " ".join(svc.get("healthcheck", {}).get("test", []))
            if f":{args.metrics_port}/readyz" not in test:
                problems.append(f"compose {name}: healthcheck does not ask /readyz")
    for name, svc in services.items():
        for entry in svc.get("ports", []):
            ip, host, container = published_port(str(entry))
            if ip != "127.0.0.1":
                problems.append(
                    f"compose {name}: port {container} is published on every interface; "
                    f"publish it on loopback: 127.0.0.1:{host}:{container}"
                )
    if seen_groups != set(GROUPS):
        problems.append(f"compose: worker services for {sorted(seen_groups)}, want {GROUPS}")
    if not any(
        not isinstance(a := parse_cli([str(x) for x in s.get("command", [])]), str)
        and a.command == "demo"
        for s in services.values()
        if s.get("image") == "tooltrail:local"
    ):
        problems.append("compose: no demo service")
    problems += _check_compose_topics(services.get("topics", {}), expected_topics)
    return problems


def published_port(entry: str) -> tuple[str, str, str]:
    """``[ip:]host:container`` (short syntax) as (ip or "", host, container)."""
    parts = entry.split("/")[0].split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", "", parts[0]


def _check_compose_topics(svc: Doc, expected: list[TopicSpec]) -> list[str]:
    script = "\n".join(svc.get("command", []))
    created: dict[str, TopicSpec] = {}
    for line in script.splitlines():
        words = shlex.split(line.replace("$$t", "kafka-topics.sh"))
        if not words or "--create" not in words:
            continue
        opt = {words[i]: words[i + 1] for i in range(len(words) - 1) if words[i].startswith("--")}
        configs = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "--config")
        created[opt["--topic"]] = TopicSpec(
            opt["--topic"], int(opt["--partitions"]), int(opt["--replication-factor"]), configs
        )
    problems = []
    for spec in expected:
        got = created.get(spec.name)
        if got is None:
            problems.append(f"compose topics: {spec.name} not created")
        elif (got.partitions, got.replication) != (spec.partitions, spec.replication) or any(
            got.configs.get(k) != v for k, v in spec.configs.items()
        ):
            problems.append(f"compose topics: {spec.name} is {got}, want {spec}")
    return problems


def check_dockerfile(text: str, pyproject: Doc) -> list[str]:
    problems = []
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [
        (w[0].upper(), w[1] if len(w) > 1 else "")
        for line in lines
        if (w := line.strip().split(None, 1)) and not line.lstrip().startswith("#")
    ]
    users = [arg for op, arg in instructions if op == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append("Dockerfile: the final USER must be non-root")
    scripts = pyproject["project"]["scripts"]
    entry = [arg for op, arg in instructions if op == "ENTRYPOINT"]
    if not entry or yaml.safe_load(entry[-1]) != ["tooltrail"] or "tooltrail" not in scripts:
        problems.append(f"Dockerfile: ENTRYPOINT should be the tooltrail CLI, got {entry}")
    for op, arg in instructions:
        if op == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                if not (ROOT / source).exists():
                    problems.append(f"Dockerfile: COPY source {source} does not exist")
        if op == "ENV":
            for name in re.findall(r"(TOOLTRAIL_[A-Z0-9_]+)=", arg):
                if name not in setting_names():
                    problems.append(f"Dockerfile: {name} is not a setting")
        for extras in re.findall(r"\[([a-z,]+)\]", arg if op == "RUN" else ""):
            unknown = set(extras.split(",")) - set(pyproject["project"]["optional-dependencies"])
            problems += [f"Dockerfile: unknown extra {e}" for e in unknown]
    for op, arg in instructions:
        if op == "FROM" and not re.search(r"@sha256:[0-9a-f]{64}\b", arg):
            problems.append(f"Dockerfile: FROM {arg} is not pinned by digest")
        if op == "RUN" and "pip wheel" in arg and "-c deploy/constraints.txt" not in arg:
            problems.append("Dockerfile: pip wheel without -c deploy/constraints.txt")
    exposed = [arg for op, arg in instructions if op == "EXPOSE"]
    if exposed != [str(HTTP_PORT)]:
        problems.append(f"Dockerfile: EXPOSE {exposed}, want the worker port {HTTP_PORT}")
    return problems


def check_compose_mounts(compose: Doc, dockerfile: str) -> list[str]:
    """Named volumes of tooltrail services mount at directories the image creates for uid
    10001 (Docker copies the image's ownership into a fresh named volume)."""
    created: set[str] = set()
    for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
        for command in line.split("&&"):
            if "install -d" in command and "-o 10001" in command:
                created.update(w for w in command.split() if w.startswith("/"))
    problems = []
    for name, svc in compose["services"].items():
        if svc.get("image") != "tooltrail:local":
            continue
        for mount in svc.get("volumes", []):
            source, _, target = mount.partition(":")
            target = target.split(":")[0]
            if not source.startswith((".", "/")) and target not in created:
                problems.append(
                    f"compose {name}: volume at {target}, which the image does not "
                    "create for its user (uid 10001)"
                )
    return problems


def check_constraints(constraints: str, pyproject: Doc, extras: tuple[str, ...]) -> list[str]:
    """Every dependency the image installs (base and ``extras``) has an exact version."""
    pinned = {}
    for line in constraints.splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[re.sub(r"[-_.]+", "-", name.lower())] = version
    wanted = list(pyproject["project"]["dependencies"])
    for extra in extras:
        wanted += pyproject["project"]["optional-dependencies"][extra]
    names = {
        re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", w, maxsplit=1)[0].lower()) for w in wanted
    }
    return [f"constraints: {n} has no pinned version" for n in sorted(names - set(pinned))]


#: What each role may do on Kafka (README, "Trust model"): (resource type, name) -> operations.
ROLE_ACLS: dict[str, dict[tuple[str, str], set[str]]] = {
    "tool-server": {
        ("topic", "events"): {"Write", "Describe"},
        ("topic", "enrichment"): {"Read", "Describe"},
    },
    "enrich": {
        ("topic", "events"): {"Read", "Describe"},
        ("group", "tooltrail-enrich"): {"Read", "Describe"},
        ("topic", "enrichment"): {"Write", "Describe"},
        ("topic", "dlq"): {"Write", "Describe"},
        ("topic", "status"): {"Read", "Write", "Describe"},
    },
    "worker": {
        ("topic", "events"): {"Read", "Describe"},
        ("group", "tooltrail-metrics"): {"Read", "Describe"},
        ("group", "tooltrail-memory"): {"Read", "Describe"},
        ("topic", "dlq"): {"Write", "Describe"},
        ("topic", "status"): {"Read", "Write", "Describe"},
    },
}


def check_acls(users: list[Doc], topics: dict[str, str]) -> list[str]:
    """Strimzi KafkaUsers per role grant exactly ``ROLE_ACLS`` (``topics``: role name of a
    topic -> its name), literal names only, and only the enrich role writes entries."""
    problems: list[str] = []
    seen: dict[str, dict[tuple[str, str], set[str]]] = {}
    for user in users:
        name = user["metadata"]["name"]
        role = user["metadata"].get("labels", {}).get("tooltrail.dev/role", "")
        if role not in ROLE_ACLS:
            problems.append(f"KafkaUser {name}: unknown role {role!r}")
            continue
        authz = user["spec"].get("authorization", {})
        if authz.get("type") != "simple":
            problems.append(f"KafkaUser {name}: authorization is not 'simple' (ACLs)")
        grants: dict[tuple[str, str], set[str]] = {}
        for acl in authz.get("acls", []):
            res = acl["resource"]
            if res.get("patternType", "literal") != "literal" or "*" in str(res.get("name")):
                problems.append(f"KafkaUser {name}: {res} is not a literal name")
            grants.setdefault((res["type"], str(res["name"])), set()).update(acl["operations"])
        seen[role] = grants
        want = {
            (kind, topics.get(ref, ref) if kind == "topic" else ref): ops
            for (kind, ref), ops in ROLE_ACLS[role].items()
        }
        if grants != want:
            problems.append(f"KafkaUser {name} ({role}): grants {grants}, want {want}")
    if set(seen) != set(ROLE_ACLS):
        problems.append(f"roles {sorted(seen)}, want {sorted(ROLE_ACLS)}")
    writers = [
        role
        for role, grants in seen.items()
        if {"Write", "All"} & grants.get(("topic", topics["enrichment"]), set())
    ]
    if writers != ["enrich"]:
        problems.append(f"the enrichment topic is written by {writers}: only the enrich group")
    return problems


def enrichment_key_source(dep: Doc) -> str | None:
    """The Secret a worker Deployment reads ``TOOLTRAIL_ENRICHMENT_KEY`` from, if any."""
    [container] = dep["spec"]["template"]["spec"]["containers"]
    for env in container.get("env", []):
        if env["name"] == "TOOLTRAIL_ENRICHMENT_KEY":
            ref = env.get("valueFrom", {}).get("secretKeyRef", {})
            return str(ref.get("name")) if ref and not ref.get("optional") else None
    return None
