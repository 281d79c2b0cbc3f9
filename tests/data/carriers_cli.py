"""Family-specific cases of the corpus: connection strings, command lines, prose and more.

Each entry is ``(family, carrier, where, payload, secrets)`` (see ``tests.data.secrets``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.data.secret_shapes import ALNUM, B64, HEX, b64, rnd

Entry = tuple[str, str, str, Any, tuple[str, ...]]


def new_password(n: int = 16) -> str:
    """A random password with a few symbols."""
    return rnd(ALNUM + "!#%*+", n)


def _connection_cases() -> list[Entry]:
    key, sig, pw = rnd(B64, 86) + "==", rnd(B64, 43), [new_password() for _ in range(8)]
    slash, at = f"{rnd(ALNUM, 6)}/{rnd(ALNUM, 6)}", f"{rnd(ALNUM, 6)}@{rnd(ALNUM, 6)}"
    return [
        (
            "conn:azure",
            "connection string",
            "args",
            {
                "conn": "DefaultEndpointsProtocol=https;"
                f"AccountName=acmelogs;AccountKey={key};EndpointSuffix=core.windows.net"
            },
            (key,),
        ),
        (
            "conn:sas",
            "SAS URL",
            "text",
            "https://acme.blob.core.windows.net/logs/a.gz?sv=2022-11-02"
            f"&ss=b&srt=o&sp=r&se=2026-12-01T00:00:00Z&sig={sig}%3D",
            (sig,),
        ),
        (
            "conn:go-dsn",
            "Go MySQL DSN",
            "error",
            f"dial app:{pw[0]}@tcp(db:3306)/pay failed",
            (pw[0],),
        ),
        (
            "conn:url-slash",
            "basic-auth URL",
            "text",
            f"fetching https://ci:{slash}@repo.example.com/simple/",
            (slash,),
        ),
        ("conn:url-at", "basic-auth URL", "args", {"url": f"postgres://app:{at}@db:5432/x"}, (at,)),
        (
            "conn:jdbc",
            "JDBC URL",
            "text",
            f"jdbc:postgresql://db:5432/pay?user=app&password={pw[1]}&ssl=true",
            (pw[1],),
        ),
        (
            "conn:mssql",
            "ADO.NET",
            "text",
            f"Server=tcp:db,1433;Database=pay;User ID=app;Password={pw[2]};Encrypt=true",
            (pw[2],),
        ),
        (
            "conn:s3-presigned",
            "presigned URL",
            "text",
            "https://b.s3.amazonaws.com/k?X-Amz-Algorithm"
            f"=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA/x&X-Amz-Signature={sig[:40].lower()}",
            (sig[:40].lower(),),
        ),
        (
            "conn:oauth-query",
            "callback URL",
            "anchor",
            f"url:https://app/cb#access_token={pw[3]}",
            (pw[3],),
        ),
        (
            "conn:redis",
            "Redis URL",
            "args",
            {"REDIS_URL": f"rediss://:{pw[4]}@cache:6380/0"},
            (pw[4],),
        ),
    ]


def _argv_cases() -> list[Entry]:
    pw = [new_password() for _ in range(12)]
    return [
        ("argv:--password", "argv", "args", {"argv": ["app", "--password", pw[0]]}, (pw[0],)),
        ("argv:-p", "argv", "args", {"argv": ["mysql", "-u", "root", "-p", pw[1]]}, (pw[1],)),
        (
            "argv:-pX",
            "argv",
            "args",
            {"argv": ["mysqldump", "-uroot", "-p" + pw[2], "db"]},
            (pw[2],),
        ),
        (
            "argv:--client-secret",
            "argv",
            "args",
            {
                "args": [
                    "az",
                    "login",
                    "--service-principal",
                    "--client-secret",
                    pw[3],
                    "--tenant",
                    "t",
                ]
            },
            (pw[3],),
        ),
        (
            "argv:from-literal",
            "argv",
            "args",
            {
                "argv": [
                    "kubectl",
                    "create",
                    "secret",
                    "generic",
                    "db",
                    "--from-literal=DB_HOST=db",
                    f"--from-literal=DB_PASS={pw[4]}",
                ]
            },
            (pw[4],),
        ),
        (
            "argv:sshpass",
            "command text",
            "args",
            {"cmd": f"sshpass -p {pw[5]} ssh ops@bastion"},
            (pw[5],),
        ),
        (
            "argv:redis-cli",
            "argv",
            "args",
            {"argv": ["redis-cli", "-h", "cache", "-a", pw[6]]},
            (pw[6],),
        ),
        (
            "argv:oc-login",
            "command text",
            "error",
            f"command failed: oc login -u kubeadmin -p {pw[7]} https://api.c1:6443",
            (pw[7],),
        ),
        (
            "argv:curl-u",
            "command text",
            "text",
            f"$ curl -sS -u admin:{pw[8]} https://h/api",
            (pw[8],),
        ),
        (
            "argv:container",
            "pod spec",
            "structured",
            {"containers": [{"command": ["mysql"], "args": ["-h", "db", "-p" + pw[9]]}]},
            (pw[9],),
        ),
        (
            "argv:docker-login",
            "argv",
            "args",
            {"argv": ["docker", "login", "-u", "ci", "-p", pw[10], "quay.io"]},
            (pw[10],),
        ),
        (
            "argv:aws-configure",
            "argv",
            "args",
            {"argv": ["aws", "configure", "set", "aws_secret_access_key", pw[11]]},
            (pw[11],),
        ),
    ]


def _prose_cases() -> list[Entry]:
    pw = [rnd(ALNUM, 10) + "7" for _ in range(6)]
    return [
        ("prose:password", "chat", "text", f"ok, the db password {pw[0]} works now", (pw[0],)),
        ("prose:api-key", "chat", "text", f"API key: {pw[1]} (rotate it)", (pw[1],)),
        ("prose:is", "runbook", "text", f"The password is {pw[2]}.", (pw[2],)),
        (
            "prose:error",
            "error",
            "error",
            f"login failed for ops: password {pw[3]} rejected",
            (pw[3],),
        ),
        ("prose:token", "log", "text", f"using token {pw[4]} for the upstream", (pw[4],)),
        ("prose:anchor", "anchor", "anchor", f"note:secret is {pw[5]}", (pw[5],)),
    ]


def _misc_cases() -> list[Entry]:
    pw, tok, cfg = [new_password() for _ in range(6)], rnd(ALNUM, 40), b64(120)
    wire = {"content": [{"type": "text", "text": f"DB_PASSWORD={pw[0]}"}], "isError": False}
    return [
        (
            "result:env-file",
            ".env",
            "text",
            f"# prod\nDB_PASSWORD={pw[1]}\nexport API_TOKEN='{tok}'\n"
            f"MASTER_KEY={rnd(HEX, 32)}x9Q\n",
            (pw[1], tok),
        ),
        (
            "result:log-json",
            "JSON log line",
            "text",
            json.dumps(
                {"level": "info", "msg": "login", "request": {"headers": {"x-api-key": pw[2]}}}
            ),
            (pw[2],),
        ),
        ("result:nested-mcp", "MCP result as value", "value", wire, (pw[0],)),
        ("incident", "incident id", "incident", f"INC-1 token={pw[3]}", (pw[3],)),
        (
            "result:yaml-block",
            "YAML block",
            "text",
            f"credentials:\n  user: ci\n  secret: {pw[4]}\n",
            (pw[4],),
        ),
        (
            "result:escaped-json",
            "JSON in a JSON string",
            "text",
            json.dumps({"body": json.dumps({"password": pw[5]})}),
            (pw[5],),
        ),
        (
            "result:dockercfg",
            "Secret .dockerconfigjson",
            "text",
            f"data:\n  .dockerconfigjson: {cfg}\nkind: Secret\n",
            (cfg[:40],),
        ),
    ]


def _human_password() -> str:
    """A password a person picks: a word, digits, maybe a symbol (no entropy to speak of)."""
    word = rnd("bcdfghjklmnprstvwz", 1).upper() + rnd("aeiou", 1) + rnd("bcdfghjklmnprstvwz", 3)
    return word + rnd("0123456789", 4) + rnd("!#%", 1)


def _syntax_cases() -> list[Entry]:
    """Passwords in the syntaxes of config files, SQL and tools whose password is positional."""
    pw = [_human_password() for _ in range(16)]
    pat = rnd(ALNUM.lower(), 52)
    return [
        (
            "nv:xml",
            "XML config",
            "text",
            f'<?xml version="1.0"?>\n<datasource>\n  <user>app</user>\n'
            f"  <password>{pw[0]}</password>\n</datasource>",
            (pw[0],),
        ),
        (
            "nv:xml-ns-cdata",
            "SOAP header",
            "text",
            f"<wsse:UsernameToken><wsse:Username>ops</wsse:Username>"
            f'<wsse:Password Type="PasswordText"><![CDATA[{pw[1]}]]></wsse:Password>'
            "</wsse:UsernameToken>",
            (pw[1],),
        ),
        (
            "conn:odbc-pwd",
            "ODBC connection string",
            "text",
            f"Driver={{ODBC Driver 18}};Server=db;UID=sa;PWD={pw[2]};Encrypt=yes",
            (pw[2],),
        ),
        (
            "prose:sql-identified",
            "SQL",
            "args",
            {"sql": f"CREATE USER 'app'@'%' IDENTIFIED BY '{pw[3]}';"},
            (pw[3],),
        ),
        (
            "prose:sql-oracle",
            "SQL",
            "text",
            f"ALTER USER scott IDENTIFIED BY {pw[4]} ACCOUNT UNLOCK;",
            (pw[4],),
        ),
        (
            "prose:sql-password",
            "SQL",
            "text",
            f"ALTER ROLE app WITH LOGIN PASSWORD '{pw[5]}' VALID UNTIL 'infinity';",
            (pw[5],),
        ),
        (
            "argv:htpasswd",
            "argv",
            "args",
            {"argv": ["htpasswd", "-bc", "/etc/nginx/.htpasswd", "admin", pw[6]]},
            (pw[6],),
        ),
        (
            "argv:htpasswd-line",
            "shell",
            "text",
            f"htpasswd -nb admin {pw[7]} > auth && kubectl create secret generic basic-auth",
            (pw[7],),
        ),
        (
            "argv:rabbitmqctl",
            "shell",
            "text",
            f"rabbitmqctl add_user svc {pw[8]} && rabbitmqctl set_user_tags svc monitoring",
            (pw[8],),
        ),
        (
            "argv:openssl-k",
            "argv",
            "args",
            {"argv": ["openssl", "enc", "-aes-256-cbc", "-k", pw[9], "-in", "db.sql"]},
            (pw[9],),
        ),
        ("argv:openssl-passwd", "shell", "text", f"openssl passwd -6 {pw[10]}", (pw[10],)),
        (
            "argv:password-stdin-echo",
            "CI log",
            "text",
            f"+ echo '{pw[11]}' | docker login -u ci --password-stdin quay.io",
            (pw[11],),
        ),
        (
            "argv:password-stdin-here",
            "CI log",
            "text",
            f"podman login --username ci --password-stdin registry.io <<< {pw[12]}",
            (pw[12],),
        ),
        ("key:pat-env", ".env text", "text", f"AZURE_DEVOPS_EXT_PAT={pat}\nORG=acme\n", (pat,)),
        ("key:pat-json", "JSON config", "args", {"GITHUB_PAT": pw[13]}, (pw[13],)),
        ("prose:quoted", "chat", "text", f'set the admin password "{pw[14]}" for now', (pw[14],)),
        (
            "result:shadow",
            "/etc/shadow",
            "text",
            "root:$6$"
            + rnd(ALNUM, 8)
            + "$"
            + (h := rnd(ALNUM + "./", 86))
            + ":19700:0:99999:7:::\nbin:*:19700:0:99999:7:::",
            (h,),
        ),
    ]


CLI_CASES: list[Entry] = [
    *_connection_cases(),
    *_argv_cases(),
    *_prose_cases(),
    *_misc_cases(),
    *_syntax_cases(),
]
