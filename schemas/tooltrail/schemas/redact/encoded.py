"""Secrets hidden by an encoding: terminal colours, percent-encoding, base64.

* ANSI escape sequences (colours between a key and its value, ``\\x1b[32mpassword\\x1b[0m:``)
  are removed before the passes read the text; the text comes back without them only if a
  secret was found (else it is kept as it was, colours included: redacting a text and a
  prefix of it then agree, as the pre-search cache key needs);
* a percent-encoded word (``redirect=https%3A%2F%2Fapp%2Fcb%3Ftoken%3D…``, encoded up to
  three times) is decoded and scanned; if the scan finds a secret, the decoded, redacted
  text replaces it;
* a base64 run (40+ characters, also wrapped over lines) is decoded and judged: text is
  scanned (a base64 ``.env``, kubeconfig or service-account key), bytes are checked for key
  containers (DER private keys, PKCS#12, OpenSSH, JKS, PGP secret keys); the run goes when
  either holds a secret. ``blob_is_secret`` judges an MCP resource ``blob`` the same way,
  failing closed: a blob is kept only when it is clean text or a known benign format
  (images, audio, video, PDF, archives).
Decoding is bounded (runs of at most the scan window, three levels of encoding).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import unquote

from tooltrail.schemas.redact.keys import REDACTED
from tooltrail.schemas.redact.pairs import apply_spans
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.vendors import runs_of

Rescan = Callable[[str], str]
_ANSI = scanner(
    r"\x1b(?:\[[0-9;:?<=>]{0,64}+[ -/]{0,4}+[@-~]|\][^\x07\x1b\n]{0,256}+(?:\x07|\x1b\\)|[@-Z\\-_])"
)
_PERCENT = scanner(r"%[0-9A-Fa-f]{2}")
_WORD_END = scanner(r"[\s\"'<>`]")
_MAX_WORD = 4096
_B64_BACK = anchored(r"[A-Za-z0-9+/=_-]*+")
_B64_BLOCK = anchored(r"[A-Za-z0-9+/=_-]++(?:(?:\r?\n|\\n)[A-Za-z0-9+/=_-]++)*+")
_KEY_MAGIC = (
    b"openssh-key-v1\x00",
    b"\xfe\xed\xfe\xed",  # JKS
    b"\xce\xce\xce\xce",  # JCEKS
    b"PuTTY-User-Key-File",
)
_BENIGN_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"RIFF",
    b"%PDF",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"OggS",
    b"ID3",
    b"fLaC",
    b"\x00\x00\x00",  # ISO media (mp4, heic) boxes
    b"<svg",
    b"<?xml",
    b"\x1aE\xdf\xa3",  # webm / matroska
    b"wOF",  # web fonts
)
MAX_DECODE = 64 * 1024


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return _ANSI.sub("", text)


def redact_percent_encoded(text: str, rescan: Rescan) -> str:
    """Percent-encoded words whose decoded text holds a secret: replaced by that text, redacted."""
    spans: list[tuple[int, int, str]] = []
    done = 0
    for m in _PERCENT.finditer(text):
        if m.start() < done:
            continue
        start, end = _word_bounds(text, m.start(), done)
        done = end
        word = decoded = text[start:end]
        for _ in range(3):
            once = unquote(decoded, errors="replace")
            if once == decoded:
                break
            decoded = once
        if decoded != word and (redacted := rescan(decoded)) != decoded:
            spans.append((start, end, redacted))
    return apply_spans(text, spans)


def _word_bounds(text: str, at: int, done: int) -> tuple[int, int]:
    """The word (no blanks or quotes) around ``at``, at most ``_MAX_WORD`` each side."""
    low = max(done, at - _MAX_WORD)
    start = max([low] + [text.rfind(c, low, at) + 1 for c in " \t\n\"'<>`"])
    after = _WORD_END.search(text, at, at + _MAX_WORD)
    return start, after.start() if after is not None else min(len(text), at + _MAX_WORD)


def redact_base64_runs(text: str, rescan: Rescan) -> str:
    """Base64 runs of ``text`` whose decoded content holds a secret (module docstring).

    Found from the bare runs of the vendor scan (``vendors.runs_of``), each widened over
    the base64 alphabet and the line breaks of a wrapped block: no scan of its own.
    """
    spans: list[tuple[int, int, str]] = []
    done = 0
    for a, b in runs_of(text).bare:
        if a < done:
            continue
        start, end = _widen(text, a, b)
        done = end
        run = text[start:end]
        if len(run) < 40 or run.startswith(REDACTED):
            continue
        data = decode_base64(run)
        if data is not None and _holds_secret(data, rescan):
            spans.append((start, end, REDACTED))
    return apply_spans(text, spans)


def _widen(text: str, a: int, b: int) -> tuple[int, int]:
    """The base64 block around ``text[a:b]``: its alphabet on its line before it, then its
    alphabet and the line breaks of a wrapped block after it."""
    before = _B64_BACK.match(text[max(0, a - 256) : a][::-1])
    start = a - (before.end() if before is not None else 0)
    after = _B64_BLOCK.match(text, a, min(len(text), a + MAX_DECODE))
    return start, after.end() if after is not None else b


def decode_base64(run: str) -> bytes | None:
    """Standard or URL-safe base64 (line breaks and ``\\n`` escapes removed), or None."""
    compact = run.replace("\\n", "").replace("\r", "").replace("\n", "")[:MAX_DECODE]
    compact = compact[: len(compact) // 4 * 4] if "=" not in compact[-3:] else compact
    alt = "-_" if ("-" in compact or "_" in compact) else None
    try:
        return base64.b64decode(compact, altchars=alt.encode() if alt else None, validate=True)
    except (binascii.Error, ValueError):
        return None


def _holds_secret(data: bytes, rescan: Rescan) -> bool:
    if _is_key_container(data):
        return True
    text = _as_text(data)
    return text is not None and rescan(text) != text


def blob_is_secret(blob: str, rescan: Rescan) -> bool:
    """An MCP resource blob: kept only if clean text or a known benign format (fail closed)."""
    data = decode_base64(blob)
    if data is None or not data:
        return bool(blob.strip())
    if _is_key_container(data):
        return True
    text = _as_text(data)
    if text is not None:
        return rescan(text) != text
    return not data.startswith(_BENIGN_MAGIC)


def _as_text(data: bytes) -> str | None:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text[:4096])
    return text if printable >= 0.95 * min(len(text), 4096) else None


def _is_key_container(data: bytes) -> bool:
    """DER private keys (PKCS#1, PKCS#8, SEC1), PKCS#12, OpenSSH, JKS, PGP secret keys."""
    if data.startswith(_KEY_MAGIC):
        return True
    if len(data) > 8 and data[0] == 0x30:
        body = data[2:] if data[1] < 0x80 else data[2 + (data[1] & 0x7F) :]
        if body[:3] == b"\x02\x01\x00" and body[3:4] in (b"\x30", b"\x02"):
            return True  # PKCS#8 PrivateKeyInfo, PKCS#1 RSAPrivateKey (version 0)
        if body[:3] == b"\x02\x01\x01" and body[3:4] == b"\x04":
            return True  # SEC1 ECPrivateKey (version 1, then the key as an OCTET STRING)
        if body[:3] == b"\x02\x01\x03" and body[3:4] == b"\x30":
            return True  # PKCS#12 PFX (version 3)
    return len(data) > 32 and _pgp_secret_key(data)


def _pgp_secret_key(data: bytes) -> bool:
    """A PGP secret-key packet (tag 5) of version 4 to 6, in the new or the old format."""
    if data[0] == 0xC5:
        version = data[2] if data[1] < 192 else data[3]
        return version in (4, 5, 6)
    return data[0] == 0x95 and data[3] in (4, 5, 6)
