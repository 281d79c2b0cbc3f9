"""Command lines, as argv lists or as text: flags whose next (or attached) value is a secret.

* any tool: ``--password X``, ``--client-secret X``, ``--token X`` (the flag's name is a
  sensitive key; ``--password-stdin`` and ``--token-file`` are not), ``--flag=value`` (left
  to the text rules), ``kubectl create secret … --from-literal=KEY=VALUE`` (VALUE);
* short flags only where the tool gives them that meaning: ``-p``/``-pX`` for the mysql
  family, sshpass, mongo shells, 7z and ``oc|docker|podman|helm|az|cf … login``; ``-a`` for
  redis-cli; ``-w`` for the ldap tools; ``-P`` for sqlcmd, bcp and zip; ``-u user:pw`` for
  curl (``-p`` stays a port for docker run, psql, kubectl port-forward…);
* a bare sensitive name followed by a credential-looking word
  (``aws configure set aws_secret_access_key X``).
"""

from __future__ import annotations

from itertools import islice, pairwise

from tooltrail.schemas.redact.keys import REDACTED, STRONG, WEAK, key_class
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.values import credential_like, looks_secret

_MYSQL = (
    "mysql",
    "mysqldump",
    "mysqladmin",
    "mysqlimport",
    "mysqlshow",
    "mysqlcheck",
    "mysqlpump",
    "mysqlsh",
    "mysqlbinlog",
    "mariadb",
    "mariadb-dump",
    "mariadb-admin",
    "mydumper",
    "myloader",
)
_MONGO = ("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport")
_LDAP = ("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete", "ldapwhoami", "ldappasswd")
#: Short flags that carry a password, per tool (``login`` = ``<tool> login``).
SHORT_FLAGS: dict[str, str] = {
    **dict.fromkeys(_MYSQL, "-p"),
    **dict.fromkeys(_MONGO, "-p"),
    **dict.fromkeys(_LDAP, "-w"),
    "sshpass": "-p",
    "7z": "-p",
    "login": "-p",
    "redis-cli": "-a",
    "sqlcmd": "-P",
    "bcp": "-P",
    "zip": "-P",
}
_USERPASS = {"curl": ("-u", "--user", "-U", "--proxy-user")}
_LOGIN_TOOLS = {
    "oc",
    "docker",
    "podman",
    "buildah",
    "skopeo",
    "helm",
    "nerdctl",
    "az",
    "cf",
    "ibmcloud",
    "crane",
    "finch",
    "registry",
}
#: Tools whose password is a positional argument: ``htpasswd -b [file] user PW``,
#: ``rabbitmqctl add_user|change_password user PW``, ``openssl passwd [-6] PW``; openssl's
#: ``-k PW`` / ``-K HEXKEY`` too.
_POSITIONAL = ("htpasswd", "rabbitmqctl", "openssl")
_RABBIT_SETS_PW = ("add_user", "change_password")
_SHELL_BREAK = {"&&", "||", "|", ";", "&", ">", ">>", "<", "2>", "2>&1"}
#: Words that make a text line worth reading as a command line.
#: (``sshpass``, ``--from-literal`` of a secret, ``configure set …_key`` hold a key term.)
TOOL_TERMS = (
    "mysql",
    "mariadb",
    "mongo",
    "redis-cli",
    "ldap",
    "sqlcmd",
    "login",
    "curl",
    *_POSITIONAL,
)
#: ``echo PW | docker login --password-stdin``, ``… --password-stdin <<< PW``: what is fed
#: to a password-from-stdin flag on the same line.
_SHELL_ARG = r"(?:\"[^\"\n]{0,512}+\"|'[^'\n]{0,512}+'|[^\s|;&]{1,512}+)"
_STDIN_ECHO = scanner(
    rf"(?P<cmd>\b(?:echo|printf)(?:[ \t]{{1,16}}+-[neE]{{1,3}}+){{0,4}}[ \t]{{1,16}}+)"
    rf"(?P<val>{_SHELL_ARG}(?:[ \t]{{1,16}}+{_SHELL_ARG}){{0,3}})"
    r"(?=[ \t]{0,16}+\|[^\n|]{0,512}?--pass(?:word)?-stdin)"
)
_HERE_STRING = scanner(
    rf"(?P<cmd>--pass(?:word)?-stdin[^\n]{{0,512}}?<<<[ \t]{{0,16}}+){_SHELL_ARG}"
)
#: One shell word: a quoted string (unterminated: to the end of its bound) or a bare run.
_TOKEN = scanner(r"\"(?:[^\"\\\n]|\\.){0,1024}+\"?|'[^'\n]{0,1024}+'?|[^\s\"']{1,4096}+")
_FLAGLIKE = anchored(r"--?[A-Za-z]")
_LAST_WORD = scanner(r"[\w.\-]{1,64}+\Z")
_KEYISH_TERMS = ("sshpass", "from-literal", "configure set")
#: A command line has fewer words: past them a line is text, left to the other passes.
_MAX_LINE_TOKENS = 128


def _program(item: str, current: str | None) -> str | None:
    word = _LAST_WORD.search(item[-80:].rstrip("()`'\"$;|&{}"))  # "/usr/bin/mysql", "$(mysql"
    base = word.group().lower() if word else ""
    if base == "login" and current in _LOGIN_TOOLS:
        return "login"
    if base in SHORT_FLAGS or base in _USERPASS or base in _LOGIN_TOOLS or base in _POSITIONAL:
        return base
    return current


def program_of(items: list[str]) -> str | None:
    """The password-taking tool an argv list runs (``mysql``, ``login`` …), if any."""
    tool: str | None = None
    for item in items[:64]:
        if isinstance(item, str):
            tool = _program(item, tool)
    return tool if tool in SHORT_FLAGS or tool in _USERPASS or tool in _POSITIONAL else None


def _positional(items: list[str], out: list[str]) -> None:
    """The password arguments of the ``_POSITIONAL`` tools, in ``out`` (see there)."""
    for at, item in enumerate(items[:64]):
        tool = _program(item, None) if isinstance(item, str) else None
        if tool not in _POSITIONAL:
            continue
        args: list[tuple[int, str]] = []
        for n in range(at + 1, min(len(items), at + 65)):
            if not isinstance(items[n], str) or items[n] in _SHELL_BREAK:
                break
            args.append((n, items[n]))
        flags = [a for _, a in args if a.startswith("-") and not a.startswith("--")]
        plain = [(n, a) for n, a in args if not a.startswith("-")]
        if tool == "htpasswd" and any("b" in f for f in flags) and len(plain) >= 2:
            out[plain[-1][0]] = REDACTED
        elif tool == "rabbitmqctl" and len(plain) >= 3 and plain[0][1] in _RABBIT_SETS_PW:
            out[plain[2][0]] = REDACTED
        elif tool == "openssl":
            if plain and plain[0][1] == "passwd" and len(plain) >= 2:
                out[plain[-1][0]] = REDACTED
            for (_, flag), (n, value) in pairwise(args):
                if flag in ("-k", "-K") and not value.startswith("-"):
                    out[n] = REDACTED


def redact_stdin_passwords(text: str) -> str:
    """What ``echo``/``printf`` or a here-string feed to ``--password-stdin``, redacted."""
    text = _STDIN_ECHO.sub(lambda m: m.group("cmd") + REDACTED, text)
    return _HERE_STRING.sub(lambda m: m.group("cmd") + REDACTED, text)


def redact_argv(items: list[str], tool: str | None = None) -> list[str]:
    """Return ``items`` with every secret flag value replaced (other items unchanged)."""
    out = list(items)
    secret_cmd = "secret" in items
    pending: str | None = None  # why the next item is a secret: "all", "userpass", "word"
    for i, item in enumerate(items):
        if pending is not None and not _FLAGLIKE.match(item):
            out[i] = _redact_value(item, pending)
            pending = None
            if out[i] != item:
                continue
            # kept (no secret): a word like any other, maybe the program ("Pat mysql -pX": a
            # key word, then the tool whose -p takes the password)
        # a flag is never the value a pending key word promised ("0(sshpass -p X": the
        # program word looks like a key term; its -p still takes the next word)
        tool = _program(item, tool)
        pending, out[i] = _flag(item, tool, secret_cmd)
    _positional(items, out)
    return out


def _redact_value(item: str, why: str) -> str:
    if _FLAGLIKE.match(item):
        return item
    if why == "userpass":
        user, sep, _ = item.partition(":")
        return f"{user}:{REDACTED}" if sep else item
    if why == "literal":
        name, sep, _ = item.partition("=")
        return f"{name}={REDACTED}" if sep else item
    if why == "word" and not credential_like(item):
        return item
    if why == "weak" and not looks_secret(item):
        return item
    return REDACTED


def _flag(item: str, tool: str | None, secret_cmd: bool) -> tuple[str | None, str]:
    """``(why the next item is secret or None, this item redacted)``."""
    short = SHORT_FLAGS.get(tool or "")
    if short is not None and item.startswith(short):
        return ("all", item) if item == short else (None, short + REDACTED)
    if item in _USERPASS.get(tool or "", ()):
        return "userpass", item
    if item.startswith(("-u", "--user=")) and tool in _USERPASS and ":" in item:
        flag = item[:2] if item.startswith("-u") else "--user="
        return None, flag + _redact_value(item[len(flag) :], "userpass")
    if item.startswith("--from-literal"):
        if item == "--from-literal":
            return ("literal" if secret_cmd else None), item
        return None, item[:15] + _redact_value(item[15:], "literal") if secret_cmd else item
    if item.startswith("-") and "=" not in item:
        cls = key_class(item)
        return ("all" if cls == STRONG else "weak" if cls == WEAK else None), item
    if "=" not in item and len(item) <= 64 and key_class(item) == STRONG:
        return "word", item
    return None, item


def redact_command_lines(text: str, lower: str) -> str:
    """Apply ``redact_argv`` to every line of ``text`` that names a tool of ``TOOL_TERMS``."""
    if "-stdin" in lower:
        text = redact_stdin_passwords(text)
    if not any(term in lower for term in (*TOOL_TERMS, *_KEYISH_TERMS)):
        return text
    lines = text.split("\n")
    for n, line in enumerate(lines):
        low = line.lower()
        if any(term in low for term in (*TOOL_TERMS, *_KEYISH_TERMS)):
            lines[n] = _redact_line(line)
    return "\n".join(lines)


def _redact_line(line: str, depth: int = 0) -> str:
    tokens = list(islice(_TOKEN.finditer(line), _MAX_LINE_TOKENS))
    bare = [t.group().strip("\"'") for t in tokens]
    new = redact_argv(bare)
    parts, last = [], 0
    for token, old, value in zip(tokens, bare, new, strict=True):
        quote = token.group()[0] if token.group()[0] in "\"'" else ""
        if value == old and quote and " " in old and depth < 2:  # sh -c 'mysql -pX …'
            value = _redact_line(old, depth + 1)
        if value != old:
            parts += [line[last : token.start()], quote + value + quote]
            last = token.end()
    return "".join([*parts, line[last:]])
