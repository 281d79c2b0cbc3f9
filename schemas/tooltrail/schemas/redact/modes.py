"""How the structured walk treats what it meets: the mode of each value under a mapping.

A mode says what a value becomes: ``NEUTRAL`` (walked as is, strings scanned as text),
``STRONG`` (every scalar below is redacted except under names that only describe, and
references), ``WEAK`` (a random-looking string is redacted), ``ALL`` (every scalar, whatever
its name: a Secret's data), ``B64`` (random-looking base64 strings: a ``data`` map of unknown
kind), ``OUTPUT`` (what a secret-printing command printed: bare values go), ``BLOB`` (an MCP
resource's base64 ``blob`` or an embedded ``data``: kept only if it decodes to something
clean). A mapping may be a name/value pair (``{name: DB_PASSWORD, value: …}``), a Kubernetes
object (its ``kind``), a container spec or a command's record (``command`` names the tool its
``args`` run, or a command that prints a secret), or a document that marks its secrets
(``documents``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tooltrail.schemas.redact.argv import program_of
from tooltrail.schemas.redact.documents import Children, secret_children
from tooltrail.schemas.redact.keys import NEUTRAL, STRONG, WEAK, inherit_keeps, key_class
from tooltrail.schemas.redact.outputs import prints_secret

ALL, B64, OUTPUT, BLOB = 10, 11, 12, 13
_NAME_FIELDS = (
    *("name", "Name", "NAME", "key", "Key", "KEY", "header", "Header", "ParameterKey"),
    *("label", "Label"),
)
VALUE_FIELDS = frozenset({"value", "Value", "VALUE", "ParameterValue"})
ARGV_FIELDS = frozenset({"args", "argv", "arguments", "command", "cmd"})
_COMMAND_FIELDS = ("command", "cmd", "commandLine", "command_line", "script", "shell", "args")
_OUTPUT_FIELDS = frozenset({"stdout", "output", "out", "result", "text", "value", "content"})
_OUTPUT_FIELDS |= frozenset({"lines", "body", "response", "data", "secret", "stdout_lines"})
#: Types that make a name/value pair's value a secret (AWS SSM, 1Password, Bitwarden).
_SECRET_TYPES = ("SecureString", "CONCEALED", 1)


def child_mode(name: str, mode: int, pair: int | None, kind: str | None) -> int:
    """The mode of the value under ``name`` in a mapping walked in ``mode`` (module doc)."""
    if mode in (ALL, B64, OUTPUT):
        return mode
    if mode == STRONG:
        return NEUTRAL if inherit_keeps(name) else STRONG
    if pair is not None and name in VALUE_FIELDS:
        return pair
    if kind == "Secret" and name in ("data", "stringData"):
        return ALL
    if kind == "" and name in ("data", "binaryData"):
        return B64
    cls = key_class(name)
    return cls if cls in (STRONG, WEAK) else NEUTRAL


def special_children(value: Mapping[Any, Any]) -> Children | None:
    """Children whose mode the mapping itself decides: marked secrets (``documents``), the
    output of a secret-printing command, a resource's blob."""
    found = secret_children(value)
    command = command_text(value)
    if command and prints_secret(command):
        found = found or {}
        found.update({k: OUTPUT for k in value if k in _OUTPUT_FIELDS and k not in found})
    if "blob" in value or "mimeType" in value or "mime_type" in value:
        found = found or {}
        found.update({k: BLOB for k in ("blob", "data") if k in value and k not in found})
    return found


def command_text(value: Mapping[Any, Any]) -> str:
    """The command a mapping records (``command``, ``cmd``, ``script``, ``args`` …) as text."""
    for field in _COMMAND_FIELDS:
        command = value.get(field)
        if isinstance(command, str):
            return command[:1024]
        if isinstance(command, list | tuple):
            return " ".join(c for c in command[:64] if isinstance(c, str))[:1024]
    return ""


def pair_class(value: Mapping[Any, Any]) -> int | None:
    """The class of a name/value pair's value (``{name: DB_PASSWORD, value: …}``), if it is one."""
    if not any(field in value for field in VALUE_FIELDS):
        return None
    if any(t in _SECRET_TYPES and t is not True for t in (value.get("Type"), value.get("type"))):
        return STRONG
    if value.get("purpose") == "PASSWORD":
        return STRONG
    for field in _NAME_FIELDS:
        name = value.get(field)
        if isinstance(name, str):
            cls = key_class(name)
            return cls if cls in (STRONG, WEAK) else NEUTRAL
    return None


def kind_of(value: Mapping[Any, Any]) -> str | None:
    """``"Secret"`` for a Secret, ``""`` for a Kubernetes object whose kind is unknown."""
    kind = value.get("kind")
    if isinstance(kind, str):
        return kind
    return "" if "apiVersion" in value else None


def command_of(value: Mapping[Any, Any]) -> list[str]:
    """The first words of a container spec's ``command`` (or ``cmd``)."""
    command = value.get("command", value.get("cmd"))
    if isinstance(command, str):
        return command.split()[:8]
    if isinstance(command, list | tuple):
        return [c for c in command[:8] if isinstance(c, str)]
    return []


def is_argv(items: list[Any], hint: str | None) -> bool:
    """True if a list reads as a command line (flags, a known tool, a sensitive bare word)."""
    if len(items) < 2 or not all(isinstance(item, str) for item in items):
        return False
    return (
        hint is not None
        or any(item[:1] == "-" for item in items)
        or program_of(items) is not None
        or any(len(item) <= 64 and key_class(item) == STRONG for item in items)
    )
