"""Which values look like a secret, and which only refer to one, mask one or measure one.

* ``looks_secret``: some part looks random enough to be a credential (weak keys);
* ``credential_like``: a word after "password", "Bearer" … in prose reads as a credential;
* ``is_random_word``: a run of letters and digits that reads as generated, not written;
* ``is_reference``: the value names a secret instead of holding it: an interpolation
  (``${DB_PASSWORD}``, ``${{ secrets.X }}``, ``{{ .Values.pw }}``, ``$(cat /run/secrets/x)``),
  a secret store's address (``vault:secret/data/db#pw``, ``op://…``, a Secrets Manager ARN,
  ``projects/p/secrets/s``, a Key Vault URL, ``{{resolve:…}}``), an expression
  (``var.db_password``, ``random_password.db.result``, ``!Ref DbPassword``), a file path, or a
  mask (``****``, ``(sensitive value)``). At most 256 characters, and none of its words may
  look generated or quoted like a credential: ``{{ ghp_… }}`` is not a reference;
* ``is_public_key``: a public key or certificate (``ssh-ed25519 AAAA…``, ``-----BEGIN PUBLIC
  KEY-----``): it may sit under a key-like name (``ssh_key``, ``signing_key``);
* ``keep_value``: what stays even under a sensitive key (``true``, ``null``, references,
  public keys, ``<redacted>``, sizes such as ``16 bytes`` that ``kubectl describe secret``
  prints).
"""

from __future__ import annotations

import math
from collections import Counter

from tooltrail.schemas.redact.keys import REDACTED, words
from tooltrail.schemas.redact.patterns import anchored, scanner

KEEP_VALUES = {"", "true", "false", "null", "none", "~", "yes", "no", "on", "off", "nil"}
#: Words that follow "password", "token" … in prose and table cells without being one.
STOP_WORDS = words(
    """is was are were be been the a an and or for of to in on with not no has have had must
    should will can cannot may expired expires reset incorrect invalid wrong required changed
    change policy field prompt manager empty authentication rotation length missing set
    updated stored hash hashed file correct valid too that this it used needed rotated
    revoked provided given found see none here enabled disabled"""
)
_MAX_REFERENCE = 256

_TOKENISH = scanner(r"[A-Za-z0-9+/=_\-.~:!@#$%^&*]{8,}")
_B64 = anchored(r"[A-Za-z0-9+/_-]{12,}+={0,2}")
_ALNUM_RUN = scanner(r"[A-Za-z0-9]{8,}")
_HEX_ID = anchored(r"[0-9a-f]{32}")
_IDENTIFIER = anchored(r"[A-Za-z_][A-Za-z_.\-]{0,63}+")
_QUOTED = scanner(r"\"([^\"\n]{0,256})\"|'([^'\n]{0,256})'")
_REDACTED_MARK = anchored(
    r"(?:<redacted(?:: [a-z ]{1,40}+)?>){1,16}+(?:…\(\+\d{1,12}+ chars[^)\n]{0,40}+\))?"
)
_SIZE = anchored(r"(?i:\d{1,12}(?:\.\d{1,3})? ?(?:bytes?|b|kb|kib|mb|mib|chars?|characters))")
_MASK = anchored(
    r"(?i:[*x•#.]{1,256}+|\(sensitive(?: value)?\)|<sensitive>|\[(?:hidden|redacted|masked)\]"
    r"|redacted|masked|hidden|not ?set|unset|changeme-?later)"
)
#: Interpolations: ``${…}``, ``${{ … }}``, ``{{ … }}``, ``$(…)``, ``%(…)s``, ``%{…}``, ``#{…}``,
#: ``((…))``, ``<…>``, ``%NAME%``, ``$NAME``, ``@Microsoft.KeyVault(…)``.
_TEMPLATE = anchored(
    r"\$\{\{[^\n]{1,250}?\}\}|\$\{[^\n{}]{1,250}\}|\{\{[^\n]{1,250}?\}\}|\$\([^\n]{1,250}\)"
    r"|%\([\w.\-]{1,64}\)[sd]|[%#]\{[^\n{}]{1,250}\}|\(\([\w.\- /]{1,250}\)\)"
    r"|<[\w .\-/:]{1,250}>|%(?:[A-Z_][A-Z0-9_]{0,63}|[a-z_][a-z0-9_]{0,63})%"
    r"|\$(?:[A-Z_][A-Z0-9_]{0,63}|[a-z_][a-z0-9_]{0,63})"
    r"|@Microsoft\.KeyVault\([^\n]{1,240}\)"
)
#: Addresses of secrets in secret stores, and paths.
_STORE = anchored(
    r"(?i:(?:ref\+)?(?:vault|op|awssm|awssecrets|awsssm|gcpsm|azurekeyvault|sm|k8s|secret"
    r"|kubernetes|sops|doppler|bw|onepassword|keyvault|gcp:secretmanager|secretsmanager|ssm"
    r"|env|file|hash|lmdb|texthash|btree)(?::/{0,3}|://)[\w.\-/#:@$+=,~\[\]{}* ]{1,240}"
    r"|arn:aws[\w-]{0,20}:(?:secretsmanager|ssm|kms|iam):[\w.\-/:+=,@ ]{1,200}"
    r"|(?:https://)?[\w-]{1,64}\.vault\.azure\.(?:net|cn|us)/(?:secrets|keys|certificates)/"
    r"[\w.\-/]{1,200}"
    r"|(?:projects|organizations)/[\w.\-]{1,64}/secrets/[\w.\-]{1,128}(?:/versions/[\w.\-]{1,64})?"
    r"|\{\{resolve:[\w\-]{1,32}:[^\n{}]{1,200}\}\}"
    r"|(?=[\w.\-/@~]{0,256}[A-Za-z])(?:/[\w.\-]{1,128}(?:/[\w.\-@]{0,128}){1,16}"
    r"|(?:~/|\./|\.\./)[\w.\-]{1,128}(?:/[\w.\-@]{0,128}){0,16})"
    r"|[A-Za-z]:\\[\w.\- \\]{1,200})"
)
#: Expressions that read a secret from somewhere else (HCL, CloudFormation, code).
_EXPRESSION = anchored(
    r"(?:var|local|data|module|each|self|path|terraform|secrets|vars|inputs|steps|needs|env"
    r"|matrix|github|values|settings|config|context|process\.env|os\.environ|ENV|System)"
    r"(?:\.[\w\-]{1,64}|\[[\"']?[\w.\-]{1,64}[\"']?\]|\([\"']?[\w.\-]{1,64}[\"']?\)){1,8}"
    r"|\.?Values(?:\.[\w\-]{1,64}){1,8}"
    r"|[a-z][a-z0-9]{0,30}_[a-z0-9_]{1,60}\.[\w\-]{1,64}(?:\.[\w\-]{1,64}|\[[\w\"'.]{1,64}\]){1,4}"
    r"|!(?:Ref|GetAtt|ImportValue|Sub|FindInMap|GetParam)[ \t]+[^\n]{1,200}"
    r"|(?:os\.getenv|getenv|System\.getenv|os\.environ\.get|env|lookup|file|secret|readFile)"
    r"\([^\n()]{1,200}\)"
)


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    n = len(text)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def looks_secret(value: str) -> bool:
    """True if some whitespace-free part of ``value`` looks random enough to be a credential.

    At least 8 characters, at least two of upper case, lower case and digits, and at least
    3 bits of entropy per character (or 20+ characters of at least 3.5 bits).
    """
    for token in _TOKENISH.findall(value[:4096]):
        classes = (
            any(c.isupper() for c in token)
            + any(c.islower() for c in token)
            + any(c.isdigit() for c in token)
        )
        bits = entropy(token)
        if (classes >= 2 and bits >= 3.0) or (len(token) >= 20 and bits >= 3.5):
            return True
    return False


def looks_b64_secret(value: str) -> bool:
    """A base64 value of a Secret ``data`` map: base64 alphabet only and random-looking."""
    return _B64.fullmatch(value) is not None and looks_secret(value)


def _char_class(c: str) -> int:
    return 2 if c.isdigit() else 1 if c.isupper() else 0


def is_random_word(word: str) -> bool:
    """True if a run of letters and digits reads as generated rather than written.

    8+ characters switching often between lower case, upper case and digits (``8fJ3kd9Q``,
    hex ``8f3c5b2a``), or 16+ characters of high entropy. A switch from upper to lower case
    does not count: ``DbPassword``, ``ec2InstanceId``, ``sha256sum`` read as written.
    """
    if len(word) < 8:
        return False
    switches, prev = 0, _char_class(word[0])
    for c in word[1:]:
        cls = _char_class(c)
        if cls != prev and not (prev == 1 and cls == 0):
            switches += 1
        prev = cls
    if switches >= 3 and switches * 4 >= len(word):
        return True
    return len(word) >= 16 and switches >= 2 and entropy(word) >= 3.5


def _has_generated_words(value: str) -> bool:
    """A word of ``value`` looks generated, or a quoted part reads as a credential.

    32 lower-case hex digits (a Key Vault secret version, an id) do not count."""
    for run in _ALNUM_RUN.findall(value):
        if is_random_word(run) and _HEX_ID.fullmatch(run) is None:
            return True
    for m in _QUOTED.finditer(value):
        quoted = m.group(1) if m.group(1) is not None else m.group(2)
        if credential_like(quoted) or looks_secret(quoted):
            return True
    return False


def is_reference(value: str) -> bool:
    """True if ``value`` names, masks or locates a secret rather than holding it (module doc)."""
    bare = value.strip()
    if not bare or len(bare) > _MAX_REFERENCE or "\n" in bare:
        return False
    if _MASK.fullmatch(bare) is not None:
        return True
    if _STORE.fullmatch(bare) is not None:
        if "@" in bare.partition("://")[2].partition("/")[0]:
            return False  # a URL with userinfo holds what it names
    elif _TEMPLATE.fullmatch(bare) is None and _EXPRESSION.fullmatch(bare) is None:
        return False
    return not _has_generated_words(bare)


def starts_with_reference(value: str) -> bool:
    """``value`` opens with an expression that reads a secret from elsewhere
    (``data.vault_generic_secret.ci.data["token"]``, ``os.environ["X"]``)."""
    found = _EXPRESSION.match(value.strip())
    return found is not None and found.end() >= 6 and not _has_generated_words(found.group())


def is_placeholder(value: str) -> bool:
    """Kept for callers of the earlier name: see ``is_reference``."""
    return is_reference(value)


_PUBLIC_PREFIXES = (
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN RSA PUBLIC KEY-----",
    "-----BEGIN EC PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "-----BEGIN TRUSTED CERTIFICATE-----",
    "-----BEGIN CERTIFICATE REQUEST-----",
    "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    "---- BEGIN SSH2 PUBLIC KEY ----",
)
_SSH_PUBLIC = anchored(
    r"(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp\d{3}"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)[ \t]{1,4}+AAAA[A-Za-z0-9+/]{8,}+"
    r"={0,3}(?:[ \t][^\n]{0,256}+)?"
)
_AGE_PUBLIC = anchored(r"age1[a-z0-9]{58}")


def is_public_key(value: str) -> bool:
    """A public key or certificate (PEM, OpenSSH, PGP, age): kept even under a key-like name."""
    bare = value.strip().strip("\"'")
    if bare.startswith(_PUBLIC_PREFIXES):
        upper = bare.upper()
        return "PRIVATE" not in upper and "SECRET" not in upper
    return _SSH_PUBLIC.fullmatch(bare) is not None or _AGE_PUBLIC.fullmatch(bare) is not None


def is_identifier(value: str) -> bool:
    """A name without digits (``password``, ``db.user``): one more name in a list of names."""
    return _IDENTIFIER.fullmatch(value) is not None


def is_redacted(value: str) -> bool:
    """``<redacted>`` or another marker this engine wrote (possibly with its cut mark)."""
    return value.startswith("<redacted") and _REDACTED_MARK.fullmatch(value) is not None


def keep_value(value: str) -> bool:
    """Values left as they are even under a sensitive key (see module docstring)."""
    bare = value.strip().strip("\"'\\").strip()
    if len(bare) <= 5 and bare.lower() in KEEP_VALUES:
        return True
    first = bare[:1]
    if first == "<" and is_redacted(bare):
        return True
    if first.isdigit() and _SIZE.fullmatch(bare) is not None:
        return True
    if bare.isalnum():  # no reference but a mask (``xxxx``, ``masked``) or an age public key
        return _MASK.fullmatch(bare) is not None or _AGE_PUBLIC.fullmatch(bare) is not None
    if first in "-se" and is_public_key(bare):  # -----BEGIN, ssh-, sk-, ecdsa-
        return True
    return is_reference(bare)


_TRAILING = ".,;:!?)]}([{'\""
_BRACKETS = "()[]{}"


def credential_like(word: str) -> bool:
    """True if a word after "password", "Bearer", "token" … in prose reads as a credential.

    ``hunter2``, ``S3cr3t!``, ``dXNlcjpwYXNz``, ``123456`` do; ``expired``, ``tokens``,
    ``reset.`` don't. A bracket glued to the word (``123456(x``, ``f(123456)``) is not part of
    it: the pieces between brackets are judged too.
    """
    w = word.rstrip(_TRAILING)
    if len(w) < 6 or w.startswith(REDACTED):
        return False
    if _credential_shape(w):
        return True
    if not any(c in _BRACKETS for c in w):
        return False
    pieces = w.translate(_TO_SPACE).split()
    return any(len(p) >= 6 and _credential_shape(p) for p in pieces)


_TO_SPACE = str.maketrans(dict.fromkeys(_BRACKETS, " "))


def _credential_shape(w: str) -> bool:
    if w.isdigit():
        return True
    has_digit = any(c.isdigit() for c in w)
    if has_digit and any(c.isalpha() for c in w):
        return True
    if any(c.isupper() for c in w[1:]) and any(c.islower() for c in w):
        return True
    return len(w) >= 8 and any(c in "!@#$%^&*+=~" for c in w)
