"""Vendor token formats: credentials recognisable by their shape alone, wherever they appear.

Formats and prefixes are facts taken from the vendors' documentation and from maintained
detectors' rule sets (gitleaks rules, detect-secrets plugins); the code is our own. Most
formats start a "run" (a stretch of ``[A-Za-z0-9_~.+-]`` after a space, quote, ``=``, ``:``
…): runs are found with one cheap regex and only runs whose first two characters start a
known prefix are matched against the formats of that prefix. Formats that live inside
URLs or after a ``/`` are matched over the whole text, each behind a literal it must hold.
Every quantifier is bounded or followed by a literal, so matching is linear in the text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from tooltrail.schemas.redact.keys import REDACTED
from tooltrail.schemas.redact.patterns import anchored, scanner


@dataclass(frozen=True, slots=True)
class TokenFormat:
    """One vendor format: its name, the literal prefixes it starts with and its regex.

    A named group ``keep`` is kept in the output (a webhook's host and path prefix).
    """

    name: str
    prefixes: tuple[str, ...]
    pattern: str
    verify: Callable[[str], bool] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled pattern (compiled once per format, see ``_compiled``)."""
        return _compiled(self.pattern)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    """The pattern compiled at import (registered there as anchored or scanner)."""
    found = _CACHE.get(pattern)
    if found is None:
        found = _CACHE[pattern] = anchored(pattern)
    return found


def _b64_private_key(token: str) -> bool:
    """``LS0tLS1CRUdJTi…`` is a base64 PEM block; true if it is a private key's."""
    head = token[:96]
    try:
        return b"PRIVATE KEY" in base64.b64decode(head[: len(head) // 4 * 4] + "==")
    except (binascii.Error, ValueError):
        return False


_AWS_PREFIXES = (
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "AGPA",
    "AIDA",
    "AIPA",
    "ANPA",
    "ANVA",
    "AROA",
    "APKA",
    "A3T",
)
#: Formats found at the start of a run.
RUN_FORMATS: tuple[TokenFormat, ...] = (
    TokenFormat(
        "AWS access key id",
        _AWS_PREFIXES,
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)"
        r"[A-Z0-9]{16}",
    ),
    TokenFormat(
        "GitHub token (classic, OAuth, user, server, refresh)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        r"gh[pousr]_[A-Za-z0-9]{30,251}",
    ),
    TokenFormat("GitHub fine-grained PAT", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{22,255}"),
    TokenFormat(
        "GitLab tokens (PAT, runner, deploy, trigger, SCIM, feed, agent, CI job, OAuth)",
        (
            "glpat-",
            "glrt-",
            "gldt-",
            "glptt-",
            "glsoat-",
            "glft-",
            "glffct-",
            "glimt-",
            "glagent-",
            "glcbt-",
            "gloas-",
        ),
        r"gl(?:pat|rt|dt|ptt|soat|ft|ffct|imt|agent|cbt|oas)-[A-Za-z0-9_.\-]{20,300}",
    ),
    TokenFormat("GitLab runner registration token", ("GR1348941",), r"GR1348941[\w-]{20,}"),
    TokenFormat(
        "Slack token (bot, user, app, config, refresh)",
        ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxr-", "xoxs-", "xoxe-", "xoxe.", "xapp-"),
        r"xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]{10,300}|xapp-\d-[A-Za-z0-9-]{10,300}",
    ),
    TokenFormat(
        "Stripe secret / restricted key, webhook secret",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "sk_prod_", "whsec_"),
        r"[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,247}|whsec_[A-Za-z0-9+/=]{24,}",
    ),
    TokenFormat("Google API key", ("AIza",), r"AIza[\w-]{35}"),
    TokenFormat("Google OAuth access token", ("ya29.",), r"ya29\.[\w-]{20,}"),
    TokenFormat("Google OAuth client secret", ("GOCSPX-",), r"GOCSPX-[\w-]{24,}"),
    TokenFormat("Anthropic API / admin / OAuth key", ("sk-ant-",), r"sk-ant-[\w-]{20,}"),
    TokenFormat(
        "OpenAI project / service account / admin key",
        ("sk-proj-", "sk-svcacct-", "sk-admin-"),
        r"sk-(?:proj|svcacct|admin)-[\w-]{20,}",
    ),
    TokenFormat(
        "OpenAI legacy key and sk- keys of other LLM APIs",
        ("sk-",),
        r"sk-[A-Za-z0-9]{32,}(?![\w-])",
    ),
    TokenFormat(
        "Groq / xAI / Perplexity / Replicate key",
        ("gsk_", "xai-", "pplx-", "r8_"),
        r"gsk_[A-Za-z0-9]{40,}|xai-[A-Za-z0-9]{60,}|pplx-[A-Za-z0-9]{40,}"
        r"|r8_[A-Za-z0-9]{30,}",
    ),
    TokenFormat(
        "Hugging Face user / org token",
        ("hf_", "api_org_"),
        r"hf_[A-Za-z0-9]{30,}|api_org_[A-Za-z0-9]{30,}",
    ),
    TokenFormat("npm access token", ("npm_",), r"npm_[A-Za-z0-9]{36,}"),
    TokenFormat("PyPI upload token", ("pypi-",), r"pypi-[\w-]{50,}"),
    TokenFormat("SendGrid API key", ("SG.",), r"SG\.[\w-]{16,32}\.[\w-]{16,64}"),
    TokenFormat("Twilio API key", ("SK",), r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
    TokenFormat(
        "DigitalOcean token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"do[opr]_v1_[a-f0-9]{64}"
    ),
    TokenFormat(
        "Shopify token",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
    ),
    TokenFormat("OpenShift OAuth token", ("sha256~",), r"sha256~[\w-]{20,}"),
    TokenFormat("JSON Web Token", ("eyJ",), r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"),
    TokenFormat(
        "base64 PEM private key (kubeconfig, Secret data)",
        ("LS0tLS1CRUdJTi",),
        r"LS0tLS1CRUdJTi[A-Za-z0-9+/=]{20,}",
        _b64_private_key,
    ),
    TokenFormat("age secret key", ("AGE-SECRET-KEY-1",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    TokenFormat("Docker Hub PAT", ("dckr_pat_",), r"dckr_pat_[\w-]{27,}"),
    TokenFormat("HashiCorp Vault token", ("hvs.", "hvb.", "hvr."), r"hv[sbr]\.[\w-]{24,}"),
    TokenFormat(
        "Grafana Cloud / service account token",
        ("glc_", "glsa_"),
        r"glc_[A-Za-z0-9+/]{32,}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
    ),
    TokenFormat("Linear API key", ("lin_api_",), r"lin_api_[A-Za-z0-9]{40}"),
    TokenFormat(
        "Doppler token (a service token may name its config: dp.st.prd.…)",
        ("dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim.", "dp.audit."),
        r"dp\.(?:pt|st|ct|sa|scim|audit)\.(?:[a-z0-9_-]{1,40}\.)?[A-Za-z0-9]{40,}",
    ),
    TokenFormat("Databricks token", ("dapi",), r"dapi[a-f0-9]{32}(?:-\d)?"),
    TokenFormat("Atlassian API token", ("ATATT3",), r"ATATT3[\w=-]{50,}"),
    TokenFormat("New Relic user key", ("NRAK-",), r"NRAK-[A-Z0-9]{27}"),
    TokenFormat("Postman API key", ("PMAK-",), r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    TokenFormat("Square token", ("sq0atp-", "sq0csp-"), r"sq0(?:atp|csp)-[\w-]{22,43}"),
    TokenFormat("Mailgun key", ("key-",), r"key-[A-Za-z0-9]{32}"),
    TokenFormat("1Password service account token", ("ops_eyJ",), r"ops_eyJ[\w+/=-]{50,}"),
    TokenFormat(
        "Sentry auth token", ("sntrys_", "sntryu_"), r"sntrys_[\w+/=-]{50,}|sntryu_[a-f0-9]{64}"
    ),
    TokenFormat("Tailscale key", ("tskey-",), r"tskey-[a-z]{3,8}-[A-Za-z0-9]{6,}-[A-Za-z0-9]{16,}"),
    TokenFormat("Pulumi access token", ("pul-",), r"pul-[a-f0-9]{40}"),
    TokenFormat(
        "Supabase access / secret key",
        ("sbp_", "sb_secret_"),
        r"sbp_(?:oauth_)?[a-f0-9]{40}|sb_secret_[\w-]{20,}",
    ),
    TokenFormat("Heroku API key (v2)", ("HRKU-",), r"HRKU-[\w-]{30,}"),
    TokenFormat(
        "Fly.io token", ("fo1_", "fm1r_", "fm1a_", "fm2_"), r"f(?:o1|m1[ra]|m2)_[\w+/=-]{40,}"
    ),
    TokenFormat("Notion integration token", ("ntn_",), r"ntn_[A-Za-z0-9]{40,}"),
    TokenFormat("Airtable personal access token", ("pat",), r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    TokenFormat("Figma token", ("figd_", "figu_"), r"fig[du]_[\w-]{40,}"),
    TokenFormat("Mapbox secret token", ("sk.eyJ",), r"sk\.eyJ[\w-]{20,}\.[\w-]{20,}"),
    TokenFormat("Contentful token", ("CFPAT-",), r"CFPAT-[\w-]{43}"),
    TokenFormat(
        "Dynatrace token", ("dt0c01.", "dt0s01."), r"dt0[cs]01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"
    ),
    TokenFormat(
        "Buildkite / CircleCI / Netlify / Prefect token",
        ("bkua_", "CCIPAT_", "nfp_", "pnu_"),
        r"bkua_[a-f0-9]{40}|CCIPAT_[\w-]{20,}|nfp_[A-Za-z0-9]{36,}|pnu_[A-Za-z0-9]{36}",
    ),
    TokenFormat(
        "PlanetScale token / password", ("pscale_",), r"pscale_(?:tkn|pw|oauth)_[\w.=-]{32,64}"
    ),
    TokenFormat(
        "Docker Swarm join token", ("SWMTKN-1-",), r"SWMTKN-1-[a-z0-9]{40,60}-[a-z0-9]{20,30}"
    ),
    TokenFormat(
        "Alibaba Cloud / Tencent Cloud access key id",
        ("LTAI", "AKID"),
        r"LTAI[A-Za-z0-9]{12,20}(?![A-Za-z0-9])|AKID[A-Za-z0-9]{32}(?![A-Za-z0-9])",
    ),
    TokenFormat("Bitbucket app password", ("ATBB",), r"ATBB[A-Za-z0-9_=.\-]{32,}"),
    TokenFormat(
        "New Relic ingest / browser key", ("NRII-", "NRJS-"), r"NR(?:II|JS)-[A-Za-z0-9_-]{20,}"
    ),
    TokenFormat(
        "Plaid access token",
        ("access-production-", "access-sandbox-", "access-development-"),
        r"access-(?:production|sandbox|development)-[a-f0-9]{8}-[a-f0-9-]{27,}",
    ),
    TokenFormat("Render API key", ("rnd_",), r"rnd_[A-Za-z0-9]{28,}"),
    TokenFormat(
        "RubyGems / Sourcegraph / Typeform / ReadMe token",
        ("rubygems_", "sgp_", "tfp_", "rdme_"),
        r"rubygems_[a-f0-9]{48}|sgp_(?:[a-f0-9]{16}_)?[a-f0-9]{40}|tfp_[\w.=-]{40,}"
        r"|rdme_[a-z0-9]{70}",
    ),
)

#: Formats matched over the whole text, behind the literals (prefixes) one of which they hold.
ANYWHERE_FORMATS: tuple[TokenFormat, ...] = (
    TokenFormat(
        "Slack webhook URL",
        ("hooks.slack.com/",),
        r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/)[\w/+-]{10,300}",
    ),
    TokenFormat(
        "Discord webhook URL",
        ("/api/webhooks/",),
        r"(?P<keep>discord(?:app)?\.com/api/webhooks/\d{5,30}/)[\w-]{20,200}",
    ),
    TokenFormat("Google OAuth refresh token", ("1//0",), r"(?<![\w/])1//0[\w-]{30,}"),
    TokenFormat("Azure AD client secret", ("Q~",), r"(?<![\w~.])[\w~.]{3}\dQ~[\w~.-]{31,34}"),
    TokenFormat("Telegram bot token", (":AA",), r"(?<!\d)\d{8,10}:AA[\w-]{33}"),
    TokenFormat(
        "Terraform Cloud token",
        (".atlasv1.",),
        r"(?<![A-Za-z0-9])[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,70}",
    ),
    TokenFormat("Docker Swarm unlock key", ("SWMKEY-1-",), r"SWMKEY-1-[\w+/=-]{30,}+"),
    TokenFormat(
        "password in a scheme prefix (Dovecot, LDAP: {PLAIN}x, {SSHA}x, {SHA512-CRYPT}x)",
        ("{PLAIN", "{CLEARTEXT}", "{SSHA", "{SHA", "{SMD5}", "{MD5}", "{CRYPT}", "{PBKDF2"),
        r"(?P<keep>\{(?:PLAIN(?:-MD5)?|CLEARTEXT|SSHA(?:256|512)?|SHA(?:256|512)?(?:-CRYPT)?"
        r"|SMD5|MD5|CRYPT|PBKDF2(?:-SHA\d{1,3})?)\})[^\s:\"',;]{1,512}+",
    ),
    # crypt(3) hashes (htpasswd, /etc/shadow, LDAP dumps): a cracked one is the password;
    # the scheme and its parameters are kept, the salt and hash go. One "$" gate, not one
    # per scheme: each substring test costs ~0.7 us on 1 KB, on every string of every event.
    TokenFormat(
        "password hash (crypt MD5/SHA/bcrypt/yescrypt, argon2)",
        ("$",),
        r"(?P<keep>\$(?:apr1|1|5|6|y|gy|7)\$(?:rounds=\d{1,9}\$|[./A-Za-z0-9]{1,8}\$)?"
        r"|\$2[aby]\$\d\d\$|\$argon2(?:id|i|d)\$(?:v=\d{1,3}\$)?"
        r"(?:[mtp]=\d{1,9},?){1,3}\$)[./A-Za-z0-9+$]{16,400}",
    ),
)

_RUN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.+-"
_RUN_MIN = 15
_RUN = scanner(rf"[A-Za-z0-9_~.+\-]{{{_RUN_MIN},}}+")
#: Every byte of a run character to ``a``, every other byte (UTF-8 lead and continuation
#: bytes included: no run character is outside ASCII) to a space.
_RUN_BYTES = bytes(0x61 if chr(b) in _RUN_CHARS else 0x20 for b in range(256))
_RUN_NEEDLE = b"a" * _RUN_MIN
_BY_HEAD: dict[str, tuple[TokenFormat, ...]] = {}
for _fmt in RUN_FORMATS:
    _CACHE[_fmt.pattern] = anchored(_fmt.pattern)
    for _head in {p[:2] for p in _fmt.prefixes}:
        _BY_HEAD[_head] = (*_BY_HEAD.get(_head, ()), _fmt)
for _fmt in ANYWHERE_FORMATS:
    _CACHE[_fmt.pattern] = scanner(_fmt.pattern)


class Runs:
    """The runs of one text, found once (a one-slot cache: the gate, the vendor pass and the
    base64 pass read the same text one after the other)."""

    __slots__ = ("bare", "spans", "text")

    def __init__(self, text: str, may_hold: bool | None = None) -> None:
        self.text = text
        if not (may_hold_run(text) if may_hold is None else may_hold):  # most text: no run
            self.spans: list[tuple[int, int]] = []
            self.bare: list[tuple[int, int]] = []
            return
        self.spans = [r.span() for r in _RUN.finditer(text)]
        #: 20+ letters and digits with no ``-`` or ``.``: base64, a bare generated key.
        self.bare = [(a, b) for a, b in self.spans if b - a >= 20 and _bare_key(text[a:b])]


def may_hold_run(text: str) -> bool:
    """True if ``text`` has 15 run characters in a row (exactly when ``_RUN`` finds a run).

    One translation of the UTF-8 bytes and one substring test, in C: several times cheaper
    than the regex's search, which tries a match at every run character.
    """
    return _RUN_NEEDLE in text.encode("utf-8", "surrogatepass").translate(_RUN_BYTES)


_LAST_RUNS: list[Runs] = []


def _cached_runs(text: str) -> Runs | None:
    """The ``Runs`` computed last, if they are those of this very string object."""
    last = _LAST_RUNS[0] if _LAST_RUNS else None
    return last if last is not None and last.text is text else None


def runs_of(text: str, may_hold: bool | None = None) -> Runs:
    """The ``Runs`` of ``text`` (computed once for the same string object); ``may_hold``:
    what ``may_hold_run(text)`` gave, if the caller already asked."""
    if (last := _cached_runs(text)) is not None:
        return last
    found = Runs(text, may_hold)
    _LAST_RUNS[:] = [found]
    return found


def _run_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for start, _ in runs_of(text).spans:
        for fmt in _BY_HEAD.get(text[start : start + 2], ()):
            m = fmt.regex.match(text, start)
            if m is not None and (fmt.verify is None or fmt.verify(m.group())):
                spans.append((start, m.end()))
                break
    return spans


def has_run_prefix(text: str) -> bool:
    """True if some run of ``text`` starts with the first two characters of a known prefix,
    or is a bare run (``Runs.bare``: base64, a bare generated key).

    Text without a run (most text) is answered without building its ``Runs``: this is the
    last test of the redaction gate, on every clean text."""
    runs = _cached_runs(text)
    if runs is None:
        if not may_hold_run(text):
            return False
        runs = runs_of(text, may_hold=True)
    return bool(runs.bare) or any(text[a : a + 2] in _BY_HEAD for a, _ in runs.spans)


def _bare_key(run: str) -> bool:
    """Letters and digits without ``-`` or ``.`` (a name or a version has those)."""
    return "-" not in run and "." not in run and not run.isalpha() and not run.isdigit()


def redact_vendor_tokens(text: str) -> str:
    """Replace every vendor token in ``text`` with ``<redacted>``."""
    spans = _run_spans(text)
    if spans:
        parts, last = [], 0
        for start, end in spans:
            if start >= last:
                parts += [text[last:start], REDACTED]
                last = end
        text = "".join([*parts, text[last:]])
    for fmt in ANYWHERE_FORMATS:
        if any(prefix in text for prefix in fmt.prefixes):
            text = fmt.regex.sub(_replacement, text)
    return text


def _replacement(m: re.Match[str]) -> str:
    keep = m.groupdict().get("keep")
    return (keep or "") + REDACTED
