"""A generated corpus per family of issue #27: shapes the first corpus never held.

Every shape is built from random characters (seeded, none real) in what tool servers really
return: secret managers and IaC documents, webhook URLs, key material in odd framings, bare
values printed by secret-printing commands, tables, ANSI-coloured and percent-encoded text,
MCP blob resources, more connection strings and credential files. Each family also has
benign look-alikes that must come out unchanged: references to secrets, public keys,
counters and budgets, sizes, ordinary command outputs.

``family_cases(seed)`` / ``family_benign(seed)`` build a fresh corpus for a seed, so a test
can run several; ``FAMILY_CASES`` / ``FAMILY_BENIGN`` are the corpus of seed 0.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from typing import Any

from tests.data.secrets import Benign, Case

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
LOWER_DIGITS = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"


class Gen:
    """Random parts of one corpus (seeded)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def s(self, alphabet: str, n: int) -> str:
        """``n`` characters of ``alphabet``, with a digit and a letter if it has both."""
        mixed = any(c.isdigit() for c in alphabet) and any(c.isalpha() for c in alphabet)
        while True:
            out = "".join(self.rng.choice(alphabet) for _ in range(n))
            if not mixed or (any(c.isdigit() for c in out) and any(c.isalpha() for c in out)):
                return out

    def pw(self, n: int = 16) -> str:
        return self.s(ALNUM, n - 2) + self.rng.choice("!#%*+") + self.rng.choice("0123456789")

    def b64(self, n_bytes: int) -> str:
        return base64.b64encode(self.rng.randbytes(n_bytes)).decode()

    def uuid(self) -> str:
        h = self.s(HEX, 32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def pick(self, options: list[Any]) -> Any:
        return self.rng.choice(options)


Shape = Callable[[Gen], list[Case]]


def _managers(g: Gen) -> list[Case]:
    unseal = [g.b64(32) for _ in range(3)]
    root = "hvs." + g.s(ALNUM, 24)
    init = "\n".join(f"Unseal Key {i + 1}: {k}" for i, k in enumerate(unseal))
    init += f"\n\nInitial Root Token: {root}\n\nVault initialized with 5 key shares"
    kv_pw, kv_api = g.pw(), g.s(ALNUM, 32)
    kv = (
        "====== Secret Path ======\nsecret/data/payments\n\n======= Metadata =======\n"
        "Key                Value\n---                -----\ncreated_time       "
        "2026-11-20T10:00:00Z\nversion            3\n\n====== Data ======\nKey         Value\n"
        f"---         -----\napi_key     {kv_api}\npassword    {kv_pw}\n"
    )
    vault_json = {
        "request_id": g.uuid(),
        "lease_id": "",
        "lease_duration": 0,
        "renewable": False,
        "data": {"data": {"stripe": (stripe := g.s(ALNUM, 30))}, "metadata": {"version": 2}},
    }
    kv_value = g.pw(20)
    keyvault = {
        "attributes": {"enabled": True, "recoveryLevel": "Recoverable+Purgeable"},
        "contentType": None,
        "id": f"https://acme-kv.vault.azure.net/secrets/db-conn/{g.s(HEX, 32)}",
        "name": "db-conn",
        "value": kv_value,
    }
    gcp_data = g.b64(24)
    gcp = {"name": "projects/acme/secrets/api/versions/4", "payload": {"data": gcp_data}}
    sm_pw = g.pw()
    aws_sm = {
        "ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        "Name": "prod/db",
        "SecretString": json.dumps({"username": "app", "password": sm_pw}),
        "VersionStages": ["AWSCURRENT"],
    }
    op_pw = g.pw()
    onepassword = {
        "title": "db",
        "fields": [
            {"id": "username", "type": "STRING", "label": "username", "value": "app"},
            {"id": "credential", "type": "CONCEALED", "label": "token", "value": op_pw},
        ],
    }
    return [
        Case("managers:vault-init", "vault operator init", "text", init, (*unseal, root[4:])),
        Case("managers:vault-kv-table", "vault kv get", "text", kv, (kv_api, kv_pw)),
        Case(
            "managers:vault-json", "vault kv get -format=json", "structured", vault_json, (stripe,)
        ),
        Case(
            "managers:vault-json-text",
            "vault read (text)",
            "text",
            json.dumps(vault_json),
            (stripe,),
        ),
        Case("managers:keyvault", "az keyvault secret show", "structured", keyvault, (kv_value,)),
        Case(
            "managers:keyvault-text",
            "az keyvault secret show",
            "text",
            json.dumps(keyvault, indent=2),
            (kv_value,),
        ),
        Case(
            "managers:gcp",
            "gcloud secrets versions access --format=json",
            "value",
            gcp,
            (gcp_data,),
        ),
        Case(
            "managers:aws-sm", "aws secretsmanager get-secret-value", "structured", aws_sm, (sm_pw,)
        ),
        Case(
            "managers:1password", "op item get --format json", "structured", onepassword, (op_pw,)
        ),
    ]


def _iac(g: Gen) -> list[Case]:
    result, bcrypt = g.pw(24), "$2a$10$" + g.s(ALNUM + "./", 53)
    app_pw = g.pw(20)
    state = {
        "version": 4,
        "resources": [
            {
                "mode": "managed",
                "type": "random_password",
                "name": "db",
                "instances": [
                    {"attributes": {"result": result, "bcrypt_hash": bcrypt, "length": 24}}
                ],
            },
            {
                "mode": "managed",
                "type": "azuread_application_password",
                "name": "app",
                "instances": [
                    {
                        "attributes": {"display_name": "ci", "value": app_pw, "key_id": g.uuid()},
                        "sensitive_attributes": [[{"type": "get_attr", "value": "value"}]],
                    }
                ],
            },
        ],
    }
    cut = json.dumps(state, indent=2)[:-40]  # a state cut short: not JSON any more
    out_pw = g.pw()
    outputs = {"db_password": {"sensitive": True, "type": "string", "value": out_pw}}
    hcl_default = g.pw()
    hcl = (
        f'variable "db_password" {{\n  type      = string\n  default   = "{hcl_default}"\n}}\n\n'
        f'variable "region" {{\n  default = "eu-west-1"\n}}\n'
    )
    hcl2 = g.pw()
    hcl_sensitive = f'variable "bootstrap" {{\n  sensitive = true\n  default   = "{hcl2}"\n}}\n'
    encrypt = g.b64(32)
    consul = f'datacenter = "dc1"\nencrypt = "{encrypt}"\nserver = true\n'
    pulumi_pw = g.pw()
    pulumi = {
        "outputs": {
            "endpoint": {
                "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                "plaintext": json.dumps(pulumi_pw),
            }
        }
    }
    plan = {
        "resource_changes": [
            {
                "type": "aws_db_instance",
                "change": {
                    "after": {"master_username": "app", "engine": "pg", "x": (px := g.pw())},
                    "after_sensitive": {"x": True},
                },
            }
        ]
    }
    heredoc_pw = g.pw()
    heredoc = f'resource "x" "y" {{\n  password = <<EOT\n{heredoc_pw}\nEOT\n}}\n'
    return [
        Case(
            "iac:tf-state", "terraform.tfstate", "structured", state, (result, bcrypt[7:], app_pw)
        ),
        Case(
            "iac:tf-state-text", "terraform state pull", "text", json.dumps(state), (result, app_pw)
        ),
        Case(
            "iac:tf-state-cut", "terraform.tfstate (cut)", "text", cut, (result, bcrypt[7:], app_pw)
        ),
        Case("iac:tf-output", "terraform output -json", "text", json.dumps(outputs), (out_pw,)),
        Case("iac:hcl-variable", "variables.tf", "text", hcl, (hcl_default,)),
        Case("iac:hcl-sensitive", "variables.tf", "args", {"file": hcl_sensitive}, (hcl2,)),
        Case("iac:consul-hcl", "consul.hcl", "text", consul, (encrypt,)),
        Case(
            "iac:pulumi", "pulumi stack export --show-secrets", "structured", pulumi, (pulumi_pw,)
        ),
        Case("iac:tf-plan", "terraform show -json plan", "structured", plan, (px,)),
        Case("iac:heredoc", "main.tf", "text", heredoc, (heredoc_pw,)),
    ]


def _webhooks(g: Gen) -> list[Case]:
    teams_key, teams_tok = g.s(HEX, 32), "V2" + g.s(ALNUM, 43)
    teams = (
        f"https://acme.webhook.office.com/webhookb2/{g.uuid()}@{g.uuid()}/IncomingWebhook/"
        f"{teams_key}/{g.uuid()}/{teams_tok}"
    )
    mm = g.s(LOWER_DIGITS, 26)
    ifttt = g.s(ALNUM, 22)
    feishu = g.uuid()
    pd = g.s(HEX, 32)
    code = g.s(ALNUM, 54) + "=="
    oauth = "4/0Adeu5B" + g.s(ALNUM, 40)
    wecom = g.uuid()
    return [
        Case(
            "webhooks:teams",
            "notification config",
            "text",
            f"notify:\n  url: {teams}\n",
            (teams_key, teams_tok),
        ),
        Case(
            "webhooks:mattermost",
            "curl",
            "args",
            {"cmd": f"curl -X POST https://chat.acme.io/hooks/{mm} -d @msg.json"},
            (mm,),
        ),
        Case(
            "webhooks:ifttt",
            "log line",
            "error",
            f"POST https://maker.ifttt.com/trigger/deploy/with/key/{ifttt} -> 401",
            (ifttt,),
        ),
        Case(
            "webhooks:feishu",
            "bot config",
            "text",
            f"webhook: https://open.feishu.cn/open-apis/bot/v2/hook/{feishu}",
            (feishu,),
        ),
        Case(
            "webhooks:pagerduty",
            "integration",
            "text",
            f"https://events.pagerduty.com/integration/{pd}/enqueue",
            (pd,),
        ),
        Case(
            "webhooks:azure-function",
            "function URL",
            "text",
            f"https://fn-acme.azurewebsites.net/api/HttpTrigger1?code={code}&clientId=default",
            (code[:-2],),
        ),
        Case(
            "webhooks:oauth-code",
            "redirect",
            "anchor",
            f"callback https://app.acme.io/cb?code={oauth}&state=xyz",
            (oauth,),
        ),
        Case(
            "webhooks:wecom",
            "bot URL",
            "text",
            f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={wecom}",
            (wecom,),
        ),
    ]


def _pem_lines(g: Gen, kind: str = "RSA PRIVATE KEY", width: int = 64) -> tuple[list[str], str]:
    body = [g.s(B64, width) for _ in range(8)] + [g.s(B64, 24) + "=="]
    return [f"-----BEGIN {kind}-----", *body, f"-----END {kind}-----"], body[3]


def _material(g: Gen) -> list[Case]:
    lines, secret = _pem_lines(g)
    lines2, secret2 = _pem_lines(g, "PRIVATE KEY")
    split = [
        {"type": "text", "text": "\n".join(lines2[:4])},
        {"type": "text", "text": "\n".join(lines2[4:7])},
        {"type": "text", "text": "\n".join(lines2[7:])},
    ]
    lines3, secret3 = _pem_lines(g, "EC PRIVATE KEY")
    yaml_list = "tls:\n  keyLines:\n" + "\n".join(f"    - {line!r}" for line in lines3)
    jwk = {
        "kty": "RSA",
        "kid": "k1",
        "n": g.s(ALNUM, 86),
        "e": "AQAB",
        "d": (d := g.s(ALNUM, 86)),
        "p": (p := g.s(ALNUM, 43)),
        "q": g.s(ALNUM, 43),
        "dp": g.s(ALNUM, 43),
        "dq": g.s(ALNUM, 43),
        "qi": (qi := g.s(ALNUM, 43)),
    }
    jwk_cut = json.dumps({"keys": [jwk]})[:-3]
    oct_k = g.s(ALNUM, 43)
    pem_text = "\n".join(_pem_lines(g, "OPENSSH PRIVATE KEY", 70)[0])
    wrapped = base64.b64encode(pem_text.encode()).decode()
    wrapped76 = "\n".join(wrapped[i : i + 76] for i in range(0, len(wrapped), 76))
    line_w = wrapped76.split("\n")[5]
    sa = json.dumps(
        {
            "type": "service_account",
            "private_key_id": g.s(HEX, 40),
            "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv"
            + g.s(B64, 60)
            + "\\n-----END PRIVATE KEY-----\\n",
            "client_email": "ci@acme.iam.gserviceaccount.com",
        }
    )
    sa_b64 = base64.b64encode(sa.encode()).decode()
    return [
        Case(
            "material:pem-list",
            "key as a JSON list",
            "structured",
            {"key": "tls", "lines": lines},
            (secret,),
        ),
        Case(
            "material:pem-split",
            "split across content items",
            "value",
            {"content": split},
            (secret2,),
        ),
        Case(
            "material:pem-split-items",
            "split across content items",
            "text",
            "\n".join(lines2[3:6]),
            (secret2,),
        ),
        Case("material:pem-yaml-list", "key as a YAML list", "text", yaml_list, (secret3,)),
        Case("material:jwk", "JWKS", "structured", {"keys": [jwk]}, (d, p, qi)),
        Case("material:jwk-cut", "JWKS (cut)", "text", jwk_cut, (d, p, qi)),
        Case(
            "material:jwk-oct",
            "symmetric JWK",
            "args",
            {"jwk": {"kty": "oct", "k": oct_k, "alg": "HS256"}},
            (oct_k,),
        ),
        Case(
            "material:b64-wrapped",
            "base64 id_ed25519",
            "text",
            f"$ base64 ~/.ssh/id_ed25519\n{wrapped76}\n",
            (line_w,),
        ),
        Case(
            "material:b64-sa-key",
            "base64 service account",
            "args",
            {"GOOGLE_CREDENTIALS_B64": "x", "data": sa_b64},
            (sa_b64[40:80],),
        ),
    ]


def _outputs(g: Gen) -> list[Case]:
    jp = g.pw()
    rand = g.b64(32)
    wg = g.b64(32)
    field = g.pw()
    gcloud = g.pw(24)
    tf_raw = g.pw()
    env_pw = g.pw()
    pwgen = g.s(ALNUM, 20)
    return [
        Case(
            "outputs:jsonpath",
            "kubectl jsonpath | base64 -d",
            "text",
            "$ kubectl get secret db -n payments -o jsonpath='{.data.password}' | base64 -d\n"
            f"{jp}\n",
            (jp,),
        ),
        Case(
            "outputs:openssl-rand",
            "openssl rand",
            "text",
            f"$ openssl rand -base64 32\n{rand}\n$ ",
            (rand,),
        ),
        Case(
            "outputs:wg-genkey",
            "wg genkey",
            "structured",
            {"command": "wg genkey", "stdout": wg + "\n", "exit_code": 0},
            (wg,),
        ),
        Case(
            "outputs:vault-field",
            "vault kv get -field",
            "structured",
            {"cmd": ["vault", "kv", "get", "-field=password", "secret/db"], "output": field},
            (field,),
        ),
        Case(
            "outputs:gcloud",
            "gcloud secrets versions access",
            "text",
            f"> gcloud secrets versions access latest --secret=api-key\n{gcloud}",
            (gcloud,),
        ),
        Case(
            "outputs:terraform-raw",
            "terraform output -raw",
            "value",
            {"command": "terraform output -raw db_password", "result": f'"{tf_raw}"'},
            (tf_raw,),
        ),
        Case(
            "outputs:echo-env",
            "echo $DB_PASSWORD",
            "text",
            f"ops@bastion:~$ echo $DB_PASSWORD\n{env_pw}\nops@bastion:~$",
            (env_pw,),
        ),
        Case("outputs:pwgen", "pwgen", "text", f"# pwgen -s 20 1\n{pwgen}\n", (pwgen,)),
    ]


def _tables(g: Gen) -> list[Case]:
    md_pw, md_key = g.pw(), g.s(ALNUM, 32)
    md = (
        "| Key | Value |\n|---|---|\n| username | app |\n"
        f"| password | {md_pw} |\n| api_key | {md_key} |\n"
    )
    col_pw = g.pw()
    md_cols = f"| name | user | password |\n| --- | --- | --- |\n| db | app | {col_pw} |\n"
    box_pw = g.pw()
    box = (
        "┌──────────┬──────────────────────┐\n│ NAME     │ VALUE                │\n"
        f"├──────────┼──────────────────────┤\n│ DB_USER  │ app                  │\n"
        f"│ DB_PASS  │ {box_pw}     │\n└──────────┴──────────────────────┘\n"
    )
    aws_key = g.s(B64, 40)
    aws = (
        "-----------------------------------------------------\n"
        "|                 CreateAccessKey                   |\n"
        "+---------------------------------------------------+\n"
        "||                   AccessKey                     ||\n"
        "|+------------------+------------------------------+|\n"
        f"||  AccessKeyId     |  AKIA{g.s(string.ascii_uppercase, 16)}        ||\n"
        f"||  SecretAccessKey |  {aws_key}  ||\n"
        "||  Status          |  Active                      ||\n"
    )
    cc_pw = g.pw()
    custom = f"NAME      PASSWORD\ndb-creds  {cc_pw}\n"
    tsv_pw = g.pw()
    tsv = f"name\tuser\tpassword\ndb\tapp\t{tsv_pw}\n"
    tsv_kv = g.pw()
    doppler = (
        "┌─────────────┬──────────────────┐\n│ NAME        │ VALUE            │\n"
        f"├─────────────┼──────────────────┤\n│ STRIPE_KEY  │ {(dk := g.s(ALNUM, 16))} │\n"
        "└─────────────┴──────────────────┘\n"
    )
    keys_list = (
        "KeyName    Permissions    Value\n---------  -------------  "
        f"--------\nkey1       FULL           {(k1 := g.b64(64))}\n"
    )
    return [
        Case("tables:markdown-kv", "markdown table", "text", md, (md_pw, md_key)),
        Case("tables:markdown-cols", "markdown table", "text", md_cols, (col_pw,)),
        Case("tables:box", "box-drawing table", "text", box, (box_pw,)),
        Case("tables:aws", "aws --output table", "text", aws, (aws_key,)),
        Case("tables:custom-columns", "kubectl -o custom-columns", "text", custom, (cc_pw,)),
        Case("tables:tsv", "TSV with a header", "text", tsv, (tsv_pw,)),
        Case("tables:tsv-kv", "TSV key/value", "error", f"client_secret\t{tsv_kv}", (tsv_kv,)),
        Case("tables:doppler", "doppler secrets", "text", doppler, (dk,)),
        Case("tables:az-keys", "az storage account keys list -o table", "text", keys_list, (k1,)),
    ]


def _encodings(g: Gen) -> list[Case]:
    ansi_pw = g.pw()
    ansi = f"\x1b[1;34mpassword\x1b[0m: \x1b[32m{ansi_pw}\x1b[0m\n\x1b[1;34muser\x1b[0m: app"
    ansi_tok = g.s(ALNUM, 32)
    ansi2 = f"\x1b[33mapi_key\x1b[39m=\x1b[1m{ansi_tok}\x1b[22m"
    enc_tok = g.s(ALNUM, 24)
    once = f"https://app.acme.io/login?next=%2Fcb%3Ftoken%3D{enc_tok}%26x%3D1"
    twice_pw = g.pw()
    inner = f"postgres://app:{twice_pw}@db/x".replace("%", "")
    twice = "redirect=" + inner.replace(":", "%253A").replace("/", "%252F").replace("@", "%2540")
    env = f"DB_PASSWORD={(b64env := g.pw())}\nLOG_LEVEL=info\n"
    blob_env = base64.b64encode(env.encode()).decode()
    blob = {
        "content": [
            {
                "type": "resource",
                "resource": {
                    "uri": "file:///srv/app/.env",
                    "mimeType": "text/plain",
                    "blob": blob_env,
                },
            }
        ]
    }
    raw_key = base64.b64encode(
        b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00" + g.rng.randbytes(600)
    ).decode()
    blob_der = {
        "content": [
            {
                "type": "resource",
                "resource": {"uri": "file:///etc/ssl/private/a.key", "blob": raw_key},
            }
        ]
    }
    random_key = base64.b64encode(g.rng.randbytes(32)).decode()
    blob_raw = {
        "content": [
            {"type": "resource", "resource": {"uri": "file:///srv/master.key", "blob": random_key}}
        ]
    }
    return [
        Case("encodings:ansi", "coloured CLI output", "text", ansi, (ansi_pw,)),
        Case("encodings:ansi-eq", "coloured env", "error", ansi2, (ansi_tok,)),
        Case("encodings:percent", "encoded redirect", "text", once, (enc_tok,)),
        Case("encodings:percent-twice", "double-encoded", "args", {"q": twice}, (twice_pw,)),
        Case("encodings:blob-env", "resource blob (.env)", "value", blob, (blob_env[:40], b64env)),
        Case("encodings:blob-der", "resource blob (DER key)", "value", blob_der, (raw_key[20:60],)),
        Case(
            "encodings:blob-raw", "resource blob (raw key)", "value", blob_raw, (random_key[:40],)
        ),
    ]


def _connections(g: Gen) -> list[Case]:
    o1, o2, o3 = g.pw(), g.pw(), g.pw()
    ldap1, ldap2, ldap3 = g.pw(), g.pw(), g.pw()
    sasl, exim = g.pw(), g.pw()
    pg1, pg2 = g.pw(), g.pw()
    php1, php2 = g.pw(), g.s(ALNUM, 40)
    netrc_pw = g.pw()
    redis = g.pw()
    return [
        Case(
            "connections:oracle-thin",
            "JDBC URL",
            "args",
            {"url": f"jdbc:oracle:thin:scott/{o1}@//db.acme:1521/ORCLPDB1"},
            (o1,),
        ),
        Case(
            "connections:sqlplus",
            "sqlplus",
            "text",
            f"$ sqlplus -s system/{o2}@db.acme:1521/XE @report.sql",
            (o2,),
        ),
        Case(
            "connections:expdp",
            "expdp",
            "error",
            f"expdp hr/{o3}@orcl schemas=HR failed: ORA-39002",
            (o3,),
        ),
        Case(
            "connections:nslcd",
            "nslcd.conf",
            "text",
            f"uri ldap://ldap.acme\nbinddn cn=reader,dc=acme,dc=io\nbindpw {ldap1}\n",
            (ldap1,),
        ),
        Case(
            "connections:sssd",
            "sssd.conf",
            "text",
            "[domain/acme]\nldap_default_bind_dn = cn=sssd,dc=acme\n"
            f"ldap_default_authtok = {ldap2}\n",
            (ldap2,),
        ),
        Case(
            "connections:python-ldap",
            "python-ldap",
            "text",
            f'conn.simple_bind_s("cn=admin,dc=acme,dc=io", "{ldap3}")',
            (ldap3,),
        ),
        Case(
            "connections:postfix-sasl",
            "sasl_passwd",
            "text",
            f"[smtp.sendgrid.net]:587 apikey:{sasl}\n",
            (sasl,),
        ),
        Case(
            "connections:exim",
            "passwd.client",
            "text",
            f"# exim passwd.client\n*.mail.acme.io:relay:{exim}\n",
            (exim,),
        ),
        Case(
            "connections:pgpass",
            ".pgpass",
            "text",
            f"db.acme.io:5432:payments:app:{pg1}\n*:*:*:postgres:{pg2}\n",
            (pg1, pg2),
        ),
        Case(
            "connections:php-define",
            "wp-config.php",
            "text",
            f"define( 'DB_NAME', 'wp' );\ndefine( 'DB_PASSWORD', '{php1}' );\n"
            f"define('AUTH_KEY', '{php2}');",
            (php1, php2),
        ),
        Case(
            "connections:netrc",
            ".netrc",
            "text",
            f"machine api.acme.io\n  login ci\n  password {netrc_pw}\n",
            (netrc_pw,),
        ),
        Case(
            "connections:redis-conf",
            "redis.conf",
            "text",
            f"port 6379\nrequirepass {redis}\nmaxmemory 2gb\n",
            (redis,),
        ),
    ]


_SHAPES: tuple[Shape, ...] = (
    _managers,
    _iac,
    _webhooks,
    _material,
    _outputs,
    _tables,
    _encodings,
    _connections,
)
FAMILY_NAMES = frozenset(f.__name__.strip("_") for f in _SHAPES)


def family_cases(seed: int = 0) -> list[Case]:
    """Every shape of every family, with fresh random secrets for ``seed``."""
    g = Gen(seed)
    return [case for shape in _SHAPES for case in shape(g)]


def family_benign(seed: int = 0) -> list[Benign]:
    """Look-alikes of every family that must come out unchanged."""
    g = Gen(seed + 10_000)
    ssh_pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + g.s(B64, 43) + " ops@bastion"
    pem_pub = (
        "-----BEGIN PUBLIC KEY-----\n"
        + g.s(B64, 64)
        + "\n"
        + g.s(B64, 24)
        + "==\n-----END PUBLIC KEY-----"
    )
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + g.rng.randbytes(64)).decode()
    return [
        Benign(
            "references",
            "args",
            {"password": "${{ secrets.DB_PASSWORD }}", "token": "${GITHUB_TOKEN}"},
        ),
        Benign(
            "references",
            "args",
            {
                "password": "vault:secret/data/payments#password",
                "api_key": "op://ci/stripe/credential",
            },
        ),
        Benign(
            "references",
            "args",
            {
                "existingSecret": "db-credentials",
                "secretName": "tls-web",
                "passwordSecretRef": {"name": "db", "key": "password"},
            },
        ),
        Benign(
            "references",
            "args",
            {"db_password": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"},
        ),
        Benign(
            "references",
            "text",
            'password = var.db_password\ntoken    = data.vault_generic_secret.ci.data["token"]\n',
        ),
        Benign(
            "references",
            "text",
            "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n"
            "        name: db\n        key: password\n",
        ),
        Benign(
            "references",
            "text",
            "password: {{ .Values.db.password | b64enc }}\nclient_secret: ${CLIENT_SECRET}\n",
        ),
        Benign(
            "references",
            "args",
            {"password": "{{resolve:secretsmanager:prod/db:SecretString:password}}"},
        ),
        Benign("public keys", "args", {"ssh_key": ssh_pub, "signing_key": pem_pub}),
        Benign("public keys", "text", f"deploy_key: {ssh_pub}\n"),
        Benign(
            "counters",
            "args",
            {
                "token_budget": 4096,
                "tokens_remaining": 1200,
                "secret_count": 3,
                "password_min_length": 12,
            },
        ),
        Benign(
            "counters",
            "structured",
            {
                "usage": {"input_tokens": 812, "output_tokens": 96, "cached_tokens": 0},
                "token_budget": 8000,
            },
        ),
        Benign(
            "counters",
            "text",
            "NAME      SECRETS   AGE\ndefault   1         12d\nbuilder   2         12d\n",
        ),
        Benign(
            "sizes",
            "text",
            "Name:         db-credentials\nNamespace:    payments\nType:  Opaque\n\n"
            "Data\n====\npassword:  16 bytes\nusername:  3 bytes\n",
        ),
        Benign(
            "tables",
            "text",
            "| name | type | age |\n|---|---|---|\n| db-credentials | Opaque | 5d |\n",
        ),
        Benign(
            "tables",
            "text",
            "NAME             TYPE     DATA   AGE\ndb-credentials   Opaque   2      5d\n",
        ),
        Benign(
            "outputs", "text", "$ kubectl get pod web-0 -o jsonpath='{.status.phase}'\nRunning\n"
        ),
        Benign(
            "outputs",
            "structured",
            {"command": "kubectl get pods -n payments", "stdout": "NAME    READY\nweb-0   1/1\n"},
        ),
        Benign("encodings", "text", "GET /search?q=kubectl%20get%20pods&page=2 200"),
        Benign(
            "encodings",
            "value",
            {"content": [{"type": "image", "data": png, "mimeType": "image/png"}]},
        ),
        Benign(
            "webhooks", "text", "See https://docs.acme.io/hooks/setup for webhook configuration."
        ),
        Benign("iac", "text", 'variable "region" {\n  default = "eu-west-1"\n}\n'),
        Benign(
            "iac",
            "structured",
            {
                "outputs": {
                    "endpoint": {"sensitive": False, "type": "string", "value": "db.acme.io"}
                }
            },
        ),
        Benign("connections", "text", "Connected to db.acme.io:5432 as app (sslmode=require)"),
        Benign(
            "connections",
            "text",
            '2026-11-23T10:00:00Z level=info msg="token refresh ok" user=ops-0 key=orders/0 '
            "url=https://api.internal:8443/v1/orders/0\n"
            '2026-11-23T10:00:01Z level=info msg="token refresh ok" user=ops-1 key=orders/1 '
            "url=https://api.internal:8443/v1/orders/1",
        ),
        Benign(
            "material",
            "text",
            "-----BEGIN CERTIFICATE-----\n"
            + g.s(B64, 64)
            + "\n"
            + g.s(B64, 64)
            + "\n"
            + g.s(B64, 20)
            + "=\n-----END CERTIFICATE-----",
        ),
    ]


FAMILY_CASES = family_cases()
FAMILY_BENIGN = family_benign()
