"""Which mapping keys, flags and variable names name a secret (values: see ``values``).

``key_class(name)`` sorts a name into one of four classes (case and separator insensitive;
``camelCase``, ``kebab-case``, ``snake_case`` and ``dotted.names`` are split into words):

* ``STRONG``: the value is a secret whatever it looks like (``password``, ``AccountKey``,
  ``client-key-data``, ``tls.key``, ``signature``, ``Set-Cookie``, ``GITHUB_TOKEN``, …);
* ``WEAK``: a generic ``…_key`` or ``PWD``; the value is redacted when it looks random
  (``looks_secret``), so ``primary_key: id`` stays and ``primary_key: 8fJ3…==`` goes;
* ``BENIGN``: a name that merely mentions a secret (``secretName``, ``secretKeyRef``,
  ``passwordPolicy``, ``serviceAccountToken``, ``max_tokens``, ``existingSecret``, a plain
  ``key``); inside a redacted container its scalar value is kept;
* ``NEUTRAL``: everything else.
"""

from __future__ import annotations

from functools import lru_cache

from tooltrail.schemas.redact.patterns import scanner

REDACTED = "<redacted>"


def words(text: str) -> frozenset[str]:
    """The words of ``text``, split on blanks: a vocabulary written as prose-like lines."""
    return frozenset(text.split())


NEUTRAL, BENIGN, WEAK, STRONG = 0, 1, 2, 3

#: Words of a name: "HTTPServer" → HTTP, Server (the upper-case run gives back one letter).
_WORD = scanner(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]++|[0-9]++")
#: Substrings of the separator-free name that always mean a secret.
_STRONG_PARTS = words(
    """password passwd passphrase secret credential authorization cookie apikey privatekey
    accesskey secretkey sessionkey signingkey masterkey encryptionkey clientkey accountkey
    sharedkey licensekey signature bearer jwt dockerconfigjson dockercfg"""
)
#: Whole words that make a name a secret's (``pat``: ``GITHUB_PAT``, ``AZURE_DEVOPS_EXT_PAT``).
_STRONG_WORDS = words(
    """pass pw pwd token tokens auth creds cred otp pin sig passcode totp hotp psk authtok pat"""
)
_STRONG_EXACT = {"idrsa", "iddsa", "idecdsa", "ided25519", "keysecret", "oauth", "xauth", "encrypt"}
_WEAK_EXACT = {"pwd", "oldpwd", "primarykey", "secondarykey"}
#: Compound names ending in "pass" or "pw" that are not passwords (``requirepass``, ``bindpw``,
#: ``rootpw`` are).
_BENIGN_PASS = words(
    """bypass compass encompass overpass underpass surpass trespass firstpass multipass onepass
    singlepass twopass renderpass subpass highpass lowpass bandpass sshpass gopass keepass"""
)
#: ``<qualifier>_key`` is a secret for these qualifiers, a random-looking value for others.
_STRONG_KEY_QUALIFIERS = words(
    """account master secret private access api session signing encryption decryption client
    license shared auth admin root app service storage hmac ssh gpg pgp webhook deploy
    registration tls ca server crypto cipher aes rsa ecdsa ed25519 bot consumer subscription
    ingest write read runner host unseal recovery preshared gossip bootstrap join enrollment
    wrapping integration activation product personal function"""
)
_BENIGN_KEY_QUALIFIERS = words(
    """public sort partition cache idempotency foreign routing group label hot lookup dedup
    dedupe object s3 map row shard hash range composite natural surrogate unique index
    primary secondary message event config registry translation i18n dict json yaml column
    field attribute node pod selector topology match sorting"""
)
#: A last word that makes the name describe a secret rather than hold one.
_BENIGN_LAST = words(
    """name names ref refs policy policies type types ttl expiry expires expiration seconds
    duration timeout lifetime length count limit limits size url urls uri endpoint endpoints
    path paths file files dir directory mount version provider providers enabled required
    rotation format hint prompt label labels field fields selector namespace kind store
    method methods mode strategy template stdin algorithm alg scope scopes audience issuer
    header prefix location source class status usage helper helpers manager min max env
    annotations description placeholder budget budgets remaining used total quota quotas
    balance allowance estimate spent left consumed cost rate ratio percent pct bucket window
    threshold capacity stats metrics details at time date timestamp days hours minutes ms
    secs interval age number index offset bytes chars counter counts accessor arn arns
    fingerprint thumbprint exists configured strength complexity history regex"""
)
_BENIGN_FIRST = words(
    """existing use uses enable enabled disable create automount show hide require allow has is
    generate rotate skip ignore validate verify page next continuation sync resume max min
    num remaining used cached reasoning count number total"""
)
_BENIGN_EXACT = words(
    """key keys serviceaccounttoken automountserviceaccounttoken imagepullsecrets tokenizer
    tokenizers author authors authority authentication authenticated bypass compass
    passthrough secretsmanager keyid keyvault"""
)


def split_words(name: str) -> list[str]:
    """``"secretKeyRef"`` → ``["secret", "key", "ref"]``; separators and case are dropped."""
    return [w.lower() for w in _WORD.findall(name[:128])]


@lru_cache(maxsize=8192)
def key_class(name: str) -> int:
    """The class (``NEUTRAL``, ``BENIGN``, ``WEAK`` or ``STRONG``) of a key, flag or variable.

    A dotted path (``auth.existingSecret``) is judged by its last part when that part says
    enough on its own (``tls.key`` is judged whole).
    """
    head, dot, leaf = name.rpartition(".")
    if dot and head and (len(split_words(leaf)) > 1 or key_class(leaf) == STRONG):
        return key_class(leaf)
    words = split_words(name)
    norm = "".join(words)
    if not norm:
        return NEUTRAL
    if norm in _BENIGN_EXACT:
        return BENIGN
    if norm in _WEAK_EXACT:
        return WEAK
    if len(words) > 1 and (words[-1] in _BENIGN_LAST or words[0] in _BENIGN_FIRST):
        return BENIGN
    if len(words) > 1 and words[-1] == "tokens":  # max_tokens, prompt_tokens: counts
        return BENIGN
    if norm in _STRONG_EXACT or any(part in norm for part in _STRONG_PARTS):
        return STRONG
    if any(w in _STRONG_WORDS for w in words) or norm.endswith(("token", "auth")):
        return STRONG
    if norm.endswith(("pass", "pw")) and norm not in _BENIGN_PASS:
        return STRONG
    return _key_words_class(words, norm)


def _key_words_class(words: list[str], norm: str) -> int:
    """``ssh_key``/``sshkey`` → STRONG, ``foo_key`` → WEAK, ``sort_key``/``monkey`` → NEUTRAL."""
    if len(words) > 1 and words[-1] in ("key", "keys"):
        qualifier = words[-2]
        if qualifier in _STRONG_KEY_QUALIFIERS:
            return STRONG
        return NEUTRAL if qualifier in _BENIGN_KEY_QUALIFIERS else WEAK
    if norm.endswith("key") and norm[:-3] in _STRONG_KEY_QUALIFIERS:
        return STRONG
    return NEUTRAL


_DESCRIPTIVE = words(
    """name path mode kind type namespace optional items uid labels annotations description
    apiversion username user"""
)


def inherit_keeps(name: str) -> bool:
    """Inside a redacted container, a value under this name is kept (it only describes)."""
    return key_class(name) == BENIGN or "".join(split_words(name)) in _DESCRIPTIVE


def is_sensitive_key(name: str) -> bool:
    """True if a key, flag or variable name names a secret (``STRONG`` or ``WEAK``)."""
    return key_class(name) >= WEAK
