"""The redaction corpus: synthetic secrets planted in what cluster and cloud tooling returns.

``SECRET_CASES``: each case is one tool call's field (``where``) holding a payload in a
realistic carrier; none of its ``secrets`` (nor an 8-character prefix of one) may reach the
encoded event. ``BENIGN_CASES``: look-alikes that must come out unchanged.
``where`` is one of ``args`` (the call's arguments), ``text`` (an MCP text result),
``structured`` (MCP ``structuredContent``), ``fastmcp`` (a fastmcp ``ToolResult``),
``value`` (a plain Python result), ``error``, ``anchor`` and ``incident``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.data.carriers import CARRIER_CASES
from tests.data.secret_shapes import TOKENS, TOKENS_2


@dataclass(frozen=True)
class Case:
    """A planted secret: where it goes, in what, and the parts that must not survive."""

    family: str
    carrier: str
    where: str
    payload: Any
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Benign:
    """A look-alike that must come out unchanged."""

    carrier: str
    where: str
    payload: Any


def _token_carrier(n: int, name: str, token: str) -> tuple[str, str, Any]:
    """Plant a vendor token in one of nine carriers, chosen by position."""
    env_name = name.upper().replace("-", "_")
    carriers: list[tuple[str, str, Any]] = [
        ("log line", "text", f"2026-11-23T10:01:00Z WARN retry with credential {token} failed"),
        (".env text", "text", f"APP_ENV=prod\n{env_name}_TOKEN={token}\nLOG_LEVEL=info\n"),
        ("JSON config", "text", json.dumps({"service": "api", "integrations": {name: token}})),
        (
            "Helm values",
            "text",
            f"replicaCount: 2\nintegration:\n  endpoint: api.example.com\n  credential: {token}\n",
        ),
        (
            "HTTP header dump",
            "text",
            f"> GET /v1/me HTTP/1.1\n> Host: api.example.com\n"
            f"> X-Upstream: {token}\n< HTTP/1.1 200 OK\n",
        ),
        ("args", "args", {"namespace": "ci", "note": f"rotate {token} tomorrow"}),
        ("error", "error", f"upstream rejected token {token}: 401 Unauthorized"),
        ("anchor", "anchor", f"cred:{token}"),
        ("fastmcp ToolResult", "fastmcp", f"Deploying with\n  auth: {token}\nDone."),
    ]
    return carriers[n % len(carriers)]


def _token_cases() -> list[Case]:
    """Every vendor token twice, in two different carriers."""
    cases = []
    for n, name in enumerate(TOKENS):
        for slot, (text, secret) in ((n, TOKENS[name]), (n + 4, TOKENS_2[name])):
            carrier, where, payload = _token_carrier(slot, name, text)
            cases.append(Case(f"vendor:{name}", carrier, where, payload, (secret,)))
    return cases


SECRET_CASES: list[Case] = [*_token_cases(), *(Case(*c) for c in CARRIER_CASES)]

_pod = "sk-worker-7d9f8c6b5-x2k4z"
BENIGN_CASES: list[Benign] = [
    Benign("prose", "text", "Basic authentication is enabled for the admin console."),
    Benign("prose", "text", "The token expired; the client will request a new one."),
    Benign("prose", "text", "Bearer tokens are rotated every 12 hours by the operator."),
    Benign("prose", "text", "Password reset link sent to the registered address."),
    Benign("prose", "text", "401 Unauthorized: invalid token"),
    Benign("prose", "error", "Authorization header missing from request"),
    Benign("prose", "text", "passwords must be at least 12 characters long"),
    Benign("prose", "text", "Use a secret manager; never paste a key into chat."),
    Benign("prose", "text", "The API key is required for this endpoint."),
    Benign("args", "args", {"passwordPolicy": "strong", "minLength": 12}),
    Benign("args", "args", {"secretName": "db-credentials", "namespace": "payments"}),
    Benign("args", "args", {"max_tokens": 1024, "temperature": 0.2, "tokenizer": "cl100k_base"}),
    Benign("args", "args", {"selector": "app=web,tier!=db", "key": "app", "pod": _pod}),
    Benign("args", "args", {"automountServiceAccountToken": False, "serviceAccountName": "ci"}),
    Benign("args", "args", {"existingSecret": "redis-auth", "auth": {"enabled": True}}),
    Benign("args", "args", {"password": None, "token": True, "secret": False}),
    Benign("args", "args", {"sort_key": "created_at", "cache_key": "pods:payments"}),
    Benign("args", "args", {"author": "ops-team", "authentication": "enabled"}),
    Benign("args", "args", {"argv": ["docker", "run", "-p", "8080:80", "nginx:1.27"]}),
    Benign("args", "args", {"argv": ["psql", "-h", "db", "-p", "5432", "-U", "app"]}),
    Benign("args", "args", {"argv": ["kubectl", "port-forward", "svc/web", "-n", "web", "8080"]}),
    Benign(
        "args", "args", {"argv": ["docker", "login", "--password-stdin", "-u", "ci", "quay.io"]}
    ),
    Benign(
        "args",
        "args",
        {
            "image": "quay.io/acme/web@sha256:" + "9f86d081884c7d659a2feaa0c55a"
            "d015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        },
    ),
    Benign(
        "args",
        "args",
        {"usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}},
    ),
    Benign("args", "args", {"command": "mysql -h db.internal -P 3306 -u app payments"}),
    Benign(
        "args",
        "args",
        {
            "env": [
                {"name": "LOG_LEVEL", "value": "info"},
                {"name": "DB_HOST", "value": "db.internal"},
            ]
        },
    ),
    Benign("args", "args", {"imagePullSecrets": [{"name": "quay-pull"}], "pod": "web-1"}),
    Benign("args", "args", {"password_file": "/etc/app/db-password", "token_ttl": "1h"}),
    Benign(
        "args",
        "args",
        {"primary_key": "id", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn ops@bastion"},
    ),
    Benign("args", "args", {"pageToken": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3", "limit": 50}),
    Benign(
        "text",
        "text",
        f"NAME READY STATUS RESTARTS AGE\n{_pod} 1/1 Running 0 3h\n"
        "web-7d9f8c6b5-q9w8e 1/1 Running 2 3h",
    ),
    Benign(
        "text",
        "text",
        "env:\n- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef:\n"
        "      name: db\n      key: password\n",
    ),
    Benign(
        "text",
        "text",
        "volumes:\n- name: certs\n  secret:\n    secretName: tls-certs\n"
        "    defaultMode: 420\n    items:\n    - key: tls.key\n"
        "      path: tls.key\n",
    ),
    Benign(
        "text",
        "text",
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  LOG_LEVEL: info\n"
        "  FEATURE_FLAGS: search,export\nmetadata:\n  name: web-config\n",
    ),
    Benign(
        "text",
        "text",
        "projected:\n  sources:\n  - serviceAccountToken:\n"
        "      expirationSeconds: 3607\n      path: token\n",
    ),
    Benign("text", "text", "automountServiceAccountToken: false\nserviceAccountName: builder\n"),
    Benign("text", "text", "Server: https://api.c1.example.com:6443/api/v1/namespaces/web/pods"),
    Benign("text", "text", "remote: git@github.com:acme/web.git (ssh://git@github.com:22/acme)"),
    Benign(
        "text",
        "text",
        "clusters:\n- cluster:\n    certificate-authority-data: "
        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lC\n"
        "    server: https://api.c1.example.com:6443\n  name: c1\n",
    ),
    Benign(
        "text",
        "text",
        '{"kind": "Secret", "metadata": {"name": "db", "namespace": "x"}, '
        '"type": "kubernetes.io/dockerconfigjson"}',
    ),
    Benign(
        "text",
        "text",
        "helm upgrade web ./chart --set image.tag=1.2.3 --set auth.existingSecret=web-auth",
    ),
    Benign("text", "text", "commit 4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 by ops-team"),
    Benign("text", "text", "request_id=7f3c2a1e-9b8d-4c6f-a5e4-3d2c1b0a9f8e status=200 ms=12"),
    Benign("text", "text", "password: ${DB_PASSWORD}\ntoken: '{{ .Values.token }}'\n"),
    Benign("text", "text", "keyboard layout: us; monkey patching disabled"),
    Benign("error", "error", 'pods "sk-worker-7d9f8c6b5-x2k4z" not found in namespace ci'),
    Benign("anchor", "anchor", "ns:openshift-etcd"),
    Benign("anchor", "anchor", "presearch:hits=2;us=14"),
    Benign("incident", "incident", "INC-2026-1123"),
    Benign(
        "structured",
        "structured",
        {
            "pods": [{"name": _pod, "phase": "Running"}],
            "selector": {"key": "app", "operator": "In"},
        },
    ),
    Benign("value", "value", {"secretKeyRef": {"name": "db", "key": "password"}}),
    Benign("text", "text", "PWD=/home/ops/deploy\nOLDPWD=/home/ops\nSHLVL=1\n"),
    Benign("text", "text", "<passwordPolicy>strict</passwordPolicy><key>app</key>"),
    Benign("text", "text", "<tokenExpiry>3600</tokenExpiry><secretName>db</secretName>"),
    Benign("text", "text", "the pod identified by uid 4f2a9c1d is Running"),
    Benign("text", "text", "file_path=/var/log/app.log url_pattern=/api/v1/*"),
    Benign("args", "args", {"argv": ["openssl", "x509", "-in", "tls.crt", "-noout", "-text"]}),
    Benign("args", "args", {"argv": ["rabbitmqctl", "list_users"]}),
    Benign("args", "args", {"argv": ["htpasswd", "-D", "/etc/nginx/.htpasswd", "olduser"]}),
    Benign("text", "text", "cat ~/pw.txt | docker login -u ci --password-stdin quay.io"),
    Benign("text", "text", "secret 'db-credentials' not found in namespace payments"),
    Benign("text", "text", "awk '{print $1$2}' users.txt; echo $6$HOME"),
]
