"""Family-specific cases of the corpus: secrets inside the documents tools really return
(kubeconfigs, Secret manifests, docker configs, Helm values, env and header lists…).

Each entry is ``(family, carrier, where, payload, secrets)`` (see ``tests.data.secrets``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.data.carriers_cli import CLI_CASES, Entry, new_password
from tests.data.secret_shapes import ALNUM, B64, B64URL, HEX, b64, pem, pgp, rnd


def _kubeconfig() -> tuple[str, tuple[str, ...]]:
    token, key_data, password = "sha256~" + rnd(B64URL, 43), b64(600), new_password()
    text = f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVh
    server: https://api.c1.example.com:6443
  name: c1
contexts:
- context:
    cluster: c1
    user: admin
  name: admin@c1
current-context: admin@c1
users:
- name: admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURJVENDQWdtZ0F3
    client-key-data: {key_data}
- name: dev
  user:
    token: {token}
- name: legacy
  user:
    username: kubeadmin
    password: {password}
"""
    return text, (key_data[:40], token.split("~")[1], password)


def _secret_manifest() -> tuple[str, tuple[str, ...]]:
    user, pw, url = (
        base64.b64encode(x.encode()).decode()
        for x in ("admin", new_password(), f"postgres://app:{new_password()}@db/x")
    )
    tls = b64(900)
    text = f"""apiVersion: v1
data:
  DATABASE_URL: {url}
  password: {pw}
  tls.key: {tls}
  username: {user}
kind: Secret
metadata:
  name: db-credentials
  namespace: payments
type: Opaque
"""
    return text, (url, pw, tls[:40])


def _secret_json() -> tuple[dict[str, Any], tuple[str, ...]]:
    a, b = b64(32), b64(48)
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "api"},
        "data": {"ca.crt": a, "client-id": b},
        "stringData": {"webhook": "s3cr3t-" + a[:12]},
    }
    return doc, (a, b)


def _docker_config() -> tuple[str, tuple[str, ...]]:
    auth = base64.b64encode(f"ci:{new_password()}".encode()).decode()
    pw, token = new_password(), rnd(ALNUM, 40)
    doc = {
        "auths": {
            "quay.io": {"auth": auth, "email": "ci@example.com"},
            "registry.example.com": {"username": "ci", "password": pw},
            "ghcr.io": {"identitytoken": token},
        },
        "credHelpers": {"gcr.io": "gcloud"},
    }
    return json.dumps(doc, indent=2), (auth, pw, token)


def _helm_values() -> tuple[str, tuple[str, ...]]:
    root, repl, smtp = new_password(), new_password(), new_password()
    text = f"""auth:
  enabled: true
  rootPassword: {root}
  replicationPassword: "{repl}"
  existingSecret: ""
smtp:
  host: smtp.example.com
  password: |
    {smtp}
resources:
  limits:
    memory: 512Mi
"""
    return text, (root, repl, smtp)


def _env_list_yaml() -> tuple[str, tuple[str, ...]]:
    aws, gh = rnd(B64, 40), "ghp_" + rnd(ALNUM, 36)
    text = f"""    env:
    - name: AWS_ACCESS_KEY_ID
      value: AKIA{rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}
    - name: AWS_SECRET_ACCESS_KEY
      value: {aws}
    - name: GITHUB_TOKEN
      value: "{gh}"
    - name: LOG_LEVEL
      value: debug
"""
    return text, (aws, gh[4:])


def _headers() -> tuple[str, tuple[str, ...]]:
    cookie, session = rnd(ALNUM, 32), new_password()
    basic = base64.b64encode(b"ops:" + new_password().encode())
    text = f"""HTTP/1.1 302 Found
Set-Cookie: sessionid={cookie}; Path=/; HttpOnly; Secure
Location: /dashboard
> Authorization: Basic {basic.decode()}
> Cookie: csrftoken=abc; session={session}
"""
    return text, (cookie, basic.decode(), session)


def _gcp_service_account() -> tuple[str, tuple[str, ...]]:
    key, body = pem("PRIVATE KEY")
    doc = {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": rnd(HEX, 40),
        "private_key": key + "\n",
        "client_email": "ci@acme-prod.iam.gserviceaccount.com",
    }
    return json.dumps(doc), (body,)


def _structured_cases() -> list[Entry]:
    acct, sig, lic = rnd(B64, 86) + "==", rnd(B64, 43), new_password(24)
    pw1, pw2 = new_password(), new_password()
    master, ssh, sigv, tls = rnd(ALNUM, 32), pem("OPENSSH PRIVATE KEY"), rnd(HEX, 64), b64(64)
    return [
        (
            "key:AccountKey",
            "args",
            "args",
            {"AccountKey": acct, "AccountName": "acmelogs"},
            (acct,),
        ),
        ("key:ssh_key", "args", "args", {"host": "bastion", "ssh_key": ssh[0]}, (ssh[1],)),
        ("key:master_key", "args", "args", {"cluster": "c1", "master_key": master}, (master,)),
        ("key:tls.key", "Secret data", "structured", {"tls.crt": "LS0t", "tls.key": tls}, (tls,)),
        ("key:signature", "webhook", "args", {"payload": "{}", "signature": sigv}, (sigv,)),
        ("key:license_key", "args", "args", {"product": "x", "license_key": lic}, (lic,)),
        (
            "key:client-key-data",
            "kubeconfig dict",
            "structured",
            {"users": [{"name": "a", "user": {"client-key-data": sig}}]},
            (sig,),
        ),
        (
            "nv:env",
            "k8s env args",
            "args",
            {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": pw1}, {"name": "X", "value": "1"}]},
            (pw1,),
        ),
        (
            "nv:headers",
            "header list",
            "args",
            {"headers": [{"name": "Authorization", "value": f"Bearer {pw2}"}]},
            (pw2,),
        ),
        (
            "nv:ssm",
            "SSM parameter",
            "value",
            {"Parameter": {"Name": "/prod/db/url", "Type": "SecureString", "Value": sig + "x"}},
            (sig + "x",),
        ),
    ]


def _text_cases() -> list[Entry]:
    out: list[Entry] = []
    for family, (text, secrets) in {
        "result:kubeconfig": _kubeconfig(),
        "result:secret-manifest": _secret_manifest(),
        "result:docker-config": _docker_config(),
        "result:helm-values": _helm_values(),
        "nv:env-yaml": _env_list_yaml(),
        "result:headers": _headers(),
        "result:gcp-sa": _gcp_service_account(),
    }.items():
        out.append((family, family.split(":")[1], "text", text, secrets))
    doc, secrets = _secret_json()
    out.append(("result:secret-json", "Secret manifest JSON", "text", json.dumps(doc), secrets))
    doc, secrets = _secret_json()
    out.append(("result:secret-structured", "Secret object", "structured", doc, secrets))
    block, line = pgp()
    out.append(("pem:pgp", "gpg --export-secret-keys", "text", f"exported:\n{block}\n", (line,)))
    return out


CARRIER_CASES: list[Entry] = [*_structured_cases(), *_text_cases(), *CLI_CASES]
