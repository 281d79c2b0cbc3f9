"""Synthetic secrets in the shape of real ones (random characters, fixed seed; none is real).

``TOKENS`` maps a family name to ``(text as it appears, the secret part that must not
survive)``: the vendor prefix of a token is public, its random part is not.
"""

from __future__ import annotations

import base64
import random
import string

_RNG = random.Random(20261123)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
BASE32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".upper()


LOWER_DIGITS = string.ascii_lowercase + string.digits


def uuid_tail() -> str:
    """The last four groups of a random UUID (``xxxx-xxxx-xxxx-xxxxxxxxxxxx``)."""
    return f"{rnd(HEX, 4)}-{rnd(HEX, 4)}-{rnd(HEX, 4)}-{rnd(HEX, 12)}"


def rnd(alphabet: str, n: int) -> str:
    """``n`` characters drawn from ``alphabet`` (seeded: the corpus is the same every run)."""
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def b64(n_bytes: int) -> str:
    """Standard base64 of ``n_bytes`` random bytes."""
    return base64.b64encode(bytes(_RNG.randrange(256) for _ in range(n_bytes))).decode()


def jwt() -> tuple[str, str]:
    """A JWT-shaped token and its secret part (payload and signature)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1"}').decode().rstrip("=")
    body = (
        base64.urlsafe_b64encode(
            f'{{"sub":"system:serviceaccount:ci:{rnd(ALNUM, 8)}","jti":"{rnd(HEX, 16)}"}}'.encode()
        )
        .decode()
        .rstrip("=")
    )
    sig = rnd(B64URL, 86)
    return f"{header}.{body}.{sig}", f"{body}.{sig}"


def pem(kind: str = "RSA PRIVATE KEY") -> tuple[str, str]:
    """A PEM block with a random body, and its body."""
    body = "\n".join(rnd(B64, 64) for _ in range(6)) + "\n" + rnd(B64, 20) + "=="
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----", body.split("\n")[0]


def pgp() -> tuple[str, str]:
    """An armored PGP private key block and one of its lines."""
    lines = [rnd(B64, 64) for _ in range(5)]
    block = (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nComment: synthetic\n\n"
        + "\n".join(lines)
        + "\n="
        + rnd(B64, 4)
        + "\n-----END PGP PRIVATE KEY BLOCK-----"
    )
    return block, lines[2]


def _prefixed(prefix: str, alphabet: str, n: int, suffix: str = "") -> tuple[str, str]:
    secret = rnd(alphabet, n)
    return prefix + secret + suffix, secret


def _b64_pem_key() -> tuple[str, str]:
    text, _ = pem()
    encoded = base64.b64encode(text.encode()).decode()
    return encoded, encoded[40:80]


def make_tokens() -> dict[str, tuple[str, str]]:
    """One entry per vendor format of ``tooltrail.schemas.redact.vendors`` (fresh random parts)."""
    return {
        "aws-akia": _prefixed("AKIA", UPPER_DIGITS, 16),
        "aws-asia": _prefixed("ASIA", UPPER_DIGITS, 16),
        "github-ghp": _prefixed("ghp_", ALNUM, 36),
        "github-gho": _prefixed("gho_", ALNUM, 36),
        "github-ghu": _prefixed("ghu_", ALNUM, 36),
        "github-ghs": _prefixed("ghs_", ALNUM, 36),
        "github-ghr": _prefixed("ghr_", ALNUM, 36),
        "github-fine-grained": _prefixed("github_pat_", ALNUM + "_", 82),
        "gitlab-glpat": _prefixed("glpat-", B64URL, 20),
        "gitlab-glrt": _prefixed("glrt-", B64URL, 20),
        "gitlab-gldt": _prefixed("gldt-", B64URL, 20),
        "gitlab-glptt": _prefixed("glptt-", HEX, 40),
        "gitlab-runner-registration": _prefixed("GR1348941", B64URL, 20),
        "slack-xoxb": _prefixed("xoxb-", string.digits + "-" + ALNUM, 50),
        "slack-xoxp": _prefixed("xoxp-", string.digits + "-" + ALNUM, 60),
        "slack-xapp": _prefixed("xapp-1-", UPPER_DIGITS + "-", 40),
        "slack-config": _prefixed("xoxe.xoxp-1-", ALNUM, 80),
        "slack-webhook": _prefixed("https://hooks.slack.com/services/", UPPER_DIGITS + "/", 44),
        "discord-webhook": _prefixed("https://discord.com/api/webhooks/1234567890123/", B64URL, 68),
        "stripe-sk-live": _prefixed("sk_live_", ALNUM, 99),
        "stripe-rk-live": _prefixed("rk_live_", ALNUM, 99),
        "stripe-sk-test": _prefixed("sk_test_", ALNUM, 24),
        "stripe-whsec": _prefixed("whsec_", ALNUM, 32),
        "google-api-key": _prefixed("AIza", B64URL, 35),
        "google-ya29": _prefixed("ya29.", B64URL, 120),
        "google-refresh": _prefixed("1//0", B64URL, 60),
        "google-client-secret": _prefixed("GOCSPX-", B64URL, 28),
        "openai-legacy": _prefixed("sk-", ALNUM, 48),
        "openai-proj": _prefixed("sk-proj-", B64URL, 156),
        "openai-svcacct": _prefixed("sk-svcacct-", B64URL, 100),
        "anthropic": _prefixed("sk-ant-api03-", B64URL, 93, "AA"),
        "anthropic-admin": _prefixed("sk-ant-admin01-", B64URL, 93, "AA"),
        "huggingface": _prefixed("hf_", string.ascii_letters, 34),
        "huggingface-org": _prefixed("api_org_", string.ascii_letters, 34),
        "npm": _prefixed("npm_", ALNUM, 36),
        "pypi": _prefixed("pypi-AgEIcHlwaS5vcmc", B64URL, 70),
        "sendgrid": (lambda a, b: (f"SG.{a}.{b}", f"{a}.{b}"))(rnd(B64URL, 22), rnd(B64URL, 43)),
        "twilio": _prefixed("SK", HEX, 32),
        "digitalocean": _prefixed("dop_v1_", HEX, 64),
        "shopify": _prefixed("shpat_", HEX, 32),
        "openshift": _prefixed("sha256~", B64URL, 43),
        "jwt": jwt(),
        "pem-rsa": pem(),
        "pem-openssh": pem("OPENSSH PRIVATE KEY"),
        "pem-pkcs8-encrypted": pem("ENCRYPTED PRIVATE KEY"),
        "pgp": pgp(),
        "pem-base64": _b64_pem_key(),
        "age": _prefixed("AGE-SECRET-KEY-1", BASE32, 58),
        "dockerhub": _prefixed("dckr_pat_", B64URL, 27),
        "vault": _prefixed("hvs.", B64URL, 90),
        "grafana-sa": (lambda a, b: (f"glsa_{a}_{b}", a + "_" + b))(rnd(ALNUM, 32), rnd(HEX, 8)),
        "linear": _prefixed("lin_api_", ALNUM, 40),
        "doppler": _prefixed("dp.pt.", ALNUM, 43),
        "databricks": _prefixed("dapi", HEX, 32),
        "atlassian": _prefixed("ATATT3", B64URL, 180),
        "newrelic": _prefixed("NRAK-", UPPER_DIGITS, 27),
        "postman": (lambda a, b: (f"PMAK-{a}-{b}", f"{a}-{b}"))(rnd(HEX, 24), rnd(HEX, 34)),
        "square": _prefixed("sq0atp-", B64URL, 22),
        "mailgun": _prefixed("key-", ALNUM, 32),
        "tailscale": (lambda a, b: (f"tskey-auth-{a}-{b}", f"{a}-{b}"))(
            rnd(ALNUM, 12), rnd(ALNUM, 30)
        ),
        "pulumi": _prefixed("pul-", HEX, 40),
        "sentry": _prefixed("sntryu_", HEX, 64),
        "azure-ad-client-secret": (lambda a: (a, a))(
            rnd(ALNUM, 3) + "8Q~" + rnd(ALNUM + "_~.-", 34)
        ),
        "telegram": _prefixed("7123456789:AA", B64URL, 33),
        "terraform-cloud": _prefixed(rnd(ALNUM, 14) + ".atlasv1.", B64URL, 67),
        "groq": _prefixed("gsk_", ALNUM, 52),
        "doppler-service": _prefixed("dp.st.prd.", ALNUM, 40),
        "supabase": _prefixed("sbp_", HEX, 40),
        "supabase-secret": _prefixed("sb_secret_", B64URL, 31),
        "heroku": _prefixed("HRKU-AA", B64URL, 58),
        "flyio": _prefixed("fo1_", B64URL, 43),
        "notion": _prefixed("ntn_", ALNUM, 46),
        "airtable": (lambda a, b: (f"pat{a}.{b}", f"{a}.{b}"))(rnd(ALNUM, 14), rnd(HEX, 64)),
        "figma": _prefixed("figd_", B64URL, 40),
        "mapbox": (lambda a, b: (f"sk.eyJ{a}.{b}", f"{a}.{b}"))(rnd(B64URL, 40), rnd(B64URL, 22)),
        "contentful": _prefixed("CFPAT-", B64URL, 43),
        "dynatrace": (lambda a, b: (f"dt0c01.{a}.{b}", f"{a}.{b}"))(
            rnd(UPPER_DIGITS, 24), rnd(UPPER_DIGITS, 64)
        ),
        "buildkite": _prefixed("bkua_", HEX, 40),
        "circleci": _prefixed("CCIPAT_", B64URL, 40),
        "netlify": _prefixed("nfp_", ALNUM, 36),
        "planetscale": _prefixed("pscale_tkn_", B64URL, 43),
        "rubygems": _prefixed("rubygems_", HEX, 48),
        "sourcegraph": _prefixed("sgp_", HEX, 40),
        "hash-sha512crypt": (lambda salt, h: (f"$6${salt}${h}", h))(
            rnd(ALNUM + "./", 8), rnd(ALNUM + "./", 86)
        ),
        "hash-sha512crypt-rounds": (lambda salt, h: (f"$6$rounds=656000${salt}${h}", h))(
            rnd(ALNUM + "./", 16), rnd(ALNUM + "./", 86)
        ),
        "hash-bcrypt": _prefixed("$2b$12$", ALNUM + "./", 53),
        "hash-apr1": (lambda salt, h: (f"$apr1${salt}${h}", h))(
            rnd(ALNUM + "./", 8), rnd(ALNUM + "./", 22)
        ),
        "hash-yescrypt": (lambda salt, h: (f"$y$j9T${salt}${h}", h))(
            rnd(ALNUM + "./", 22), rnd(ALNUM + "./", 43)
        ),
        "hash-argon2id": (lambda salt, h: (f"$argon2id$v=19$m=65536,t=3,p=4${salt}${h}", h))(
            rnd(B64.rstrip("+/") + "+/", 22), rnd(B64, 43)
        ),
        "swarm-join": (lambda a, b: (f"SWMTKN-1-{a}-{b}", f"{a}-{b}"))(
            rnd(LOWER_DIGITS, 50), rnd(LOWER_DIGITS, 25)
        ),
        "swarm-unlock": _prefixed("SWMKEY-1-", B64, 43),
        "alibaba": _prefixed("LTAI", ALNUM, 20),
        "tencent": _prefixed("AKID", ALNUM, 32),
        "bitbucket": _prefixed("ATBB", ALNUM, 32),
        "newrelic-ingest": _prefixed("NRII-", B64URL, 32),
        "plaid": (lambda a: ("access-production-" + a, a))(rnd(HEX, 8) + "-" + uuid_tail()),
        "render": _prefixed("rnd_", ALNUM, 32),
        "dovecot-plain": _prefixed("{PLAIN}", ALNUM, 16),
        "ldap-ssha": _prefixed("{SSHA}", B64, 32),
    }


TOKENS = make_tokens()
#: The same formats again, other random parts (each format is planted twice).
TOKENS_2 = make_tokens()
