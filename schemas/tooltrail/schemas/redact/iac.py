"""Infrastructure-as-code and secret-manager documents as text (cut JSON, HCL).

* HCL: a ``variable "db_password" {…}`` or ``output "x" {…}`` block whose name is a secret's,
  or that says ``sensitive = true``, loses its ``default``/``value`` (a reference such as
  ``random_password.db.result`` stays);
* Terraform state as text (cut, not parseable): the attributes its ``sensitive_attributes``
  list, and the ``result``/``bcrypt_hash`` of ``random_password``/``random_string``, lose
  their JSON string values;
* Pulumi state as text: the ``plaintext`` of a secret (``4dabf18193072939515e22adb298388d``).
The walk reads the same documents when they are structures (``documents``).
"""

from __future__ import annotations

from tooltrail.schemas.redact.documents import PULUMI_SECRET
from tooltrail.schemas.redact.keys import REDACTED, STRONG, key_class
from tooltrail.schemas.redact.pairs import apply_spans, container_end, value_span
from tooltrail.schemas.redact.patterns import scanner

IAC_GATES = ('variable "', 'output "', "sensitive_attributes", "random_password")
IAC_GATES_2 = ("random_string", PULUMI_SECRET)
_HCL_BLOCK = scanner(r"\b(?:variable|output)[ \t]{1,8}+\"(?P<name>[^\"\n]{1,128}+)\"[ \t]{0,8}+\{")
_HCL_SENSITIVE = scanner(r"\bsensitive[ \t]{0,8}+=[ \t]{0,8}+true\b")
_HCL_VALUE = scanner(r"(?m)^[ \t]{0,64}+(?:default|value)[ \t]{0,8}+=[ \t]{0,8}+")
_LISTED = scanner(r"\"sensitive_attributes\"[ \t]{0,8}+:[ \t]{0,8}+\[")
_STEP_NAME = scanner(r"\"value\"[ \t]{0,8}+:[ \t]{0,8}+\"(?P<n>[\w\-]{1,128}+)\"")
_STRING_PAIR = scanner(
    r"\"(?P<k>[\w\-]{1,128}+)\"[ \t]{0,8}+:[ \t]{0,8}+(?P<v>\"(?:[^\"\\\n]|\\.){0,8192}+\")"
)


def redact_iac_text(text: str, lower: str) -> str:
    """Every rule of the module docstring whose gate ``text`` holds."""
    if "{" in text and ('variable "' in text or 'output "' in text):
        text = _hcl_blocks(text)
    names: set[str] = set()
    if "random_password" in text or "random_string" in text:
        names |= {"result", "bcrypt_hash"}
    if "sensitive_attributes" in text:
        names |= _listed_names(text)
    if PULUMI_SECRET in text:
        names.add("plaintext")
    return _string_values(text, names) if names else text


def _hcl_blocks(text: str) -> str:
    spans: list[tuple[int, int, str]] = []
    done = 0
    for m in _HCL_BLOCK.finditer(text):
        if m.start() < done:
            continue
        end = container_end(text, m.end() - 1)
        body_start = m.end()
        secret = key_class(m.group("name")) == STRONG
        if not secret and _HCL_SENSITIVE.search(text, body_start, end) is None:
            done = end
            continue
        for value in _HCL_VALUE.finditer(text, body_start, end):
            found = value_span(text, value.end(), STRONG, rest_of_line=False)
            if found is not None and found[1] <= end:
                spans.append(found)
        done = end
    return apply_spans(text, spans)


def _listed_names(text: str) -> set[str]:
    names: set[str] = set()
    done = 0
    for m in _LISTED.finditer(text):
        if m.start() < done:
            continue  # inside a list already read: never read twice
        done = container_end(text, m.end() - 1)
        names.update(n.group("n") for n in _STEP_NAME.finditer(text, m.end(), done))
    return names


def _string_values(text: str, names: set[str]) -> str:
    spans = [
        (m.start("v"), m.end("v"), f'"{REDACTED}"')
        for m in _STRING_PAIR.finditer(text)
        if m.group("k") in names and m.group("v") != f'"{REDACTED}"'
    ]
    return apply_spans(text, spans)
