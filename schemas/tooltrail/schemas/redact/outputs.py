"""Bare values printed by commands whose purpose is to print a secret.

A command that reads a secret (``kubectl get secret … -o jsonpath=…``/``go-template``/
``| base64 -d``, ``vault kv get -field=…``, ``gcloud secrets versions access``, ``aws
secretsmanager get-secret-value``, ``az keyvault secret show``, ``op read``, ``gh auth
token``, ``terraform output -raw``, ``echo $DB_PASSWORD``, ``cat /run/secrets/…`` …) or makes
one (``openssl rand``, ``pwgen``, ``wg genkey``, ``head -c 32 /dev/urandom | base64``,
``python -c "…secrets.token_hex()"`` …) prints the secret with nothing around it. So:

* in text, after such a command line, every output line that is one word or one quoted
  string goes, up to a blank line, the next prompt or command line (64 lines at most);
* in a structure, the output fields (``stdout``, ``output``, ``result`` …) of a mapping whose
  command field runs such a command are read as that output (``redact_output``).
Labels (``Output:``), ``true``/``null`` and references are kept.
"""

from __future__ import annotations

import re

from tooltrail.schemas.redact.keys import REDACTED, words
from tooltrail.schemas.redact.patterns import anchored, scanner, words_scanner
from tooltrail.schemas.redact.values import STOP_WORDS, is_redacted, keep_value

#: Commands that print a secret, by a literal each holds: a family's regex (which starts with
#: that literal) is searched only in text holding it.
_FAMILIES: tuple[tuple[str, str], ...] = (
    (
        "kubectl",
        r"kubectl\b[^\n]{0,256}?(?:\bsecrets?\b[^\n]{0,256}?(?:jsonpath|template|custom-col"
        r"|base64|\bjq\b)|view-secret|create token|get-token)",
    ),
    (
        "oc ",
        r"oc [^\n]{0,256}?(?:\bsecrets?\b[^\n]{0,256}?(?:jsonpath|template|custom-col|base64"
        r"|\bjq\b|--to=-)|whoami (?:-t|--show-token)|get-token|create token)",
    ),
    ("kubeadm", r"kubeadm (?:token (?:create|generate)|certs certificate-key)"),
    ("vault", r"vault\b[^\n]{0,256}?(?:-field[= ]|\bprint token\b|\btoken create\b)"),
    (
        "aws ",
        r"aws [^\n]{0,64}?(?:secretsmanager get-secret-value|ecr get-login-password"
        r"|get-authorization-token|sts get-session-token"
        r"|ssm get-parameters?\b[^\n]{0,256}?--with-decryption)",
    ),
    (
        "az ",
        r"az [^\n]{0,64}?(?:keyvault secret (?:show|download)|get-access-token"
        r"|--expose-token|keys list|show-connection-string|list-keys)",
    ),
    ("gcloud", r"gcloud\b[^\n]{0,64}?(?:secrets versions access|print-(?:access|identity)-token)"),
    ("auth ", r"auth (?:token|status[^\n]{0,32}?(?:-t\b|--show-token))"),
    ("heroku", r"heroku (?:auth:token|config:get)"),
    ("doppler", r"doppler secrets get\b"),
    ("chamber", r"chamber read\b"),
    ("op ", r"op (?:read|item get[^\n]{0,128}?(?:--fields|--reveal))"),
    ("bw get", r"bw get\b"),
    ("lpass", r"lpass show\b"),
    ("pass show", r"pass show\b"),
    ("secret-tool", r"secret-tool lookup\b"),
    ("keyring", r"keyring get\b"),
    ("security ", r"security find-(?:generic|internet)-password\b[^\n]{0,256}?-w\b"),
    ("sops", r"sops\b[^\n]{0,64}?(?:-d\b|--decrypt)"),
    ("ansible-vault", r"ansible-vault (?:view|decrypt)"),
    ("gpg", r"gpg\b[^\n]{0,64}?(?:-d\b|--decrypt)"),
    ("age ", r"age [^\n]{0,64}?(?:-d\b|--decrypt)"),
    (
        "terraform output",
        r"terraform output\b[^\n]{0,64}?(?:-raw|-json|[ \t][a-z_][\w\-]{0,63}+[ \t]*$)",
    ),
    ("pulumi", r"pulumi (?:stack output[^\n]{0,128}?--show-secrets|config get)"),
    ("join-token", r"join-token\b"),
    ("printenv", r"printenv[ \t]{1,8}+\w{0,40}?(?:pass|secret|token|key|cred|auth|pwd)"),
    ("echo", r"echo[^\n]{0,32}?\$\{?\w{0,40}?(?:pass|secret|token|key|cred|auth|pwd)"),
    (
        "cat ",
        r"cat [^\n]{0,256}?(?:/run/secrets/|/var/run/secrets/|secret|passw|token|credential"
        r"|\.key\b|id_rsa|id_ed25519|id_ecdsa)",
    ),
    ("openssl rand", r"openssl rand\b"),
    ("pwgen", r"pwgen\b"),
    ("makepasswd", r"makepasswd"),
    ("mkpasswd", r"mkpasswd"),
    ("htpasswd", r"htpasswd\b[^\n]{0,32}?-n"),
    ("xkcdpass", r"xkcdpass\b"),
    ("diceware", r"diceware\b"),
    ("random", r"/dev/u?random\b"),
    ("wg ", r"wg (?:genkey|genpsk)\b"),
    ("age-keygen", r"age-keygen"),
    ("consul keygen", r"consul keygen"),
    ("nomad operator", r"nomad operator[^\n]{0,32}?keygen"),
    ("rails secret", r"rails secret\b"),
    ("rake secret", r"rake secret\b"),
    ("phx.gen.secret", r"phx\.gen\.secret"),
    ("get_random_secret_key", r"get_random_secret_key"),
    ("token_", r"secrets\.token_(?:hex|urlsafe|bytes)"),
    ("randombytes", r"randombytes"),
)
_COMMANDS = tuple((hint, scanner(pattern, re.MULTILINE)) for hint, pattern in _FAMILIES)
_HINTS = words_scanner(tuple(hint for hint, _ in _FAMILIES))
#: The first word of every command of ``_FAMILIES`` (or a part that is never a word alone).
_COMMAND_WORDS = words(
    """kubectl oc kubeadm vault aws az gcloud gh glab heroku doppler chamber op bw lpass pass
    gopass secret-tool keyring security sops ansible-vault gpg age terraform pulumi docker
    printenv echo printf cat openssl pwgen makepasswd mkpasswd htpasswd xkcdpass diceware wg
    age-keygen consul nomad rails rake mix"""
)
_COMMAND_PARTS = ("/dev/urandom", "/dev/random", "secrets.token_", "randombytes", "get_random_")
_PROMPT = anchored(
    r"[ \t]{0,16}+(?:[$#>%](?:[ \t]|$)|PS [^\n>]{0,256}+>|[\w.\-]{1,64}+@[^\s$#]{1,128}+[$#])"
)
_QUOTED = anchored(r"\"[^\"\n]{1,4096}+\"|'[^'\n]{1,4096}+'")
_MAX_OUTPUT_LINES = 64


def prints_secret(command: str) -> bool:
    """True if ``command`` (a command line, lower-cased or not) prints a secret."""
    lower = command.lower()
    if _HINTS.search(lower) is None:
        return False
    return any(hint in lower and rx.search(lower) is not None for hint, rx in _COMMANDS)


def may_print_secret(lower: str) -> bool:
    """Cheap gate of ``redact_command_outputs``: a word of ``lower`` names a command that
    can print a secret (one split of the text, then set lookups)."""
    words = set(lower.split())
    return not words.isdisjoint(_COMMAND_WORDS) or any(w in lower for w in _COMMAND_PARTS)


def redact_command_outputs(text: str, lower: str) -> str:
    """The bare output lines after every secret-printing command line of ``text``."""
    lines = text.split("\n")
    lowers = lower.split("\n")
    armed = 0
    for n, low in enumerate(lowers):
        if prints_secret(low):
            armed = _MAX_OUTPUT_LINES
            continue
        if armed and (not low.strip() or _PROMPT.match(low) is not None):
            armed = 0
        if armed:
            lines[n] = _bare_line(lines[n])
            armed -= 1
    return "\n".join(lines)


def redact_output(text: str) -> str:
    """``text`` read as the whole output of a secret-printing command (module docstring)."""
    return "\n".join(_bare_line(line) for line in text.split("\n")[: _MAX_OUTPUT_LINES * 4])


def _bare_line(line: str) -> str:
    """The line with its value redacted if it is one word or one quoted string."""
    core = line.strip()
    lead = len(line) - len(line.lstrip())
    if not core or core.endswith(":") or is_redacted(core) or keep_value(core):
        return line
    if core.lower() in STOP_WORDS:
        return line
    if any(c.isspace() for c in core) and _QUOTED.fullmatch(core) is None:
        return line
    return line[:lead] + REDACTED + line[lead + len(core) :]
