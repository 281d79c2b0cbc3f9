"""The vendor token table: every format has a sample, is found wherever it sits, and its
look-alikes are left alone."""

from __future__ import annotations

import json

import pytest

from tests.data.secret_shapes import TOKENS
from tooltrail.schemas.redact import redact_text
from tooltrail.schemas.redact.vendors import ANYWHERE_FORMATS, RUN_FORMATS, redact_vendor_tokens

#: Format name (as in the table) → samples in ``TOKENS``. A new format needs a sample here.
SAMPLES: dict[str, tuple[str, ...]] = {
    "AWS access key id": ("aws-akia", "aws-asia"),
    "GitHub token (classic, OAuth, user, server, refresh)": (
        "github-ghp",
        "github-gho",
        "github-ghu",
        "github-ghs",
        "github-ghr",
    ),
    "GitHub fine-grained PAT": ("github-fine-grained",),
    "GitLab tokens (PAT, runner, deploy, trigger, SCIM, feed, agent, CI job, OAuth)": (
        "gitlab-glpat",
        "gitlab-glrt",
        "gitlab-gldt",
        "gitlab-glptt",
    ),
    "GitLab runner registration token": ("gitlab-runner-registration",),
    "Slack token (bot, user, app, config, refresh)": (
        "slack-xoxb",
        "slack-xoxp",
        "slack-xapp",
        "slack-config",
    ),
    "Stripe secret / restricted key, webhook secret": (
        "stripe-sk-live",
        "stripe-rk-live",
        "stripe-sk-test",
        "stripe-whsec",
    ),
    "Google API key": ("google-api-key",),
    "Google OAuth access token": ("google-ya29",),
    "Google OAuth client secret": ("google-client-secret",),
    "Anthropic API / admin / OAuth key": ("anthropic", "anthropic-admin"),
    "OpenAI project / service account / admin key": ("openai-proj", "openai-svcacct"),
    "OpenAI legacy key and sk- keys of other LLM APIs": ("openai-legacy",),
    "Groq / xAI / Perplexity / Replicate key": ("groq",),
    "Hugging Face user / org token": ("huggingface", "huggingface-org"),
    "npm access token": ("npm",),
    "PyPI upload token": ("pypi",),
    "SendGrid API key": ("sendgrid",),
    "Twilio API key": ("twilio",),
    "DigitalOcean token": ("digitalocean",),
    "Shopify token": ("shopify",),
    "OpenShift OAuth token": ("openshift",),
    "JSON Web Token": ("jwt",),
    "base64 PEM private key (kubeconfig, Secret data)": ("pem-base64",),
    "age secret key": ("age",),
    "Docker Hub PAT": ("dockerhub",),
    "HashiCorp Vault token": ("vault",),
    "Grafana Cloud / service account token": ("grafana-sa",),
    "Linear API key": ("linear",),
    "Doppler token (a service token may name its config: dp.st.prd.…)": (
        "doppler",
        "doppler-service",
    ),
    "Databricks token": ("databricks",),
    "Atlassian API token": ("atlassian",),
    "New Relic user key": ("newrelic",),
    "Postman API key": ("postman",),
    "Square token": ("square",),
    "Mailgun key": ("mailgun",),
    "1Password service account token": (),
    "Sentry auth token": ("sentry",),
    "Tailscale key": ("tailscale",),
    "Pulumi access token": ("pulumi",),
    "Supabase access / secret key": ("supabase", "supabase-secret"),
    "Heroku API key (v2)": ("heroku",),
    "Fly.io token": ("flyio",),
    "Notion integration token": ("notion",),
    "Airtable personal access token": ("airtable",),
    "Figma token": ("figma",),
    "Mapbox secret token": ("mapbox",),
    "Contentful token": ("contentful",),
    "Dynatrace token": ("dynatrace",),
    "Buildkite / CircleCI / Netlify / Prefect token": ("buildkite", "circleci", "netlify"),
    "PlanetScale token / password": ("planetscale",),
    "RubyGems / Sourcegraph / Typeform / ReadMe token": ("rubygems", "sourcegraph"),
    "password hash (crypt MD5/SHA/bcrypt/yescrypt, argon2)": (
        "hash-sha512crypt",
        "hash-sha512crypt-rounds",
        "hash-bcrypt",
        "hash-apr1",
        "hash-yescrypt",
        "hash-argon2id",
    ),
    "Slack webhook URL": ("slack-webhook",),
    "Discord webhook URL": ("discord-webhook",),
    "Google OAuth refresh token": ("google-refresh",),
    "Azure AD client secret": ("azure-ad-client-secret",),
    "Telegram bot token": ("telegram",),
    "Terraform Cloud token": ("terraform-cloud",),
    "Docker Swarm join token": ("swarm-join",),
    "Docker Swarm unlock key": ("swarm-unlock",),
    "Alibaba Cloud / Tencent Cloud access key id": ("alibaba", "tencent"),
    "Bitbucket app password": ("bitbucket",),
    "New Relic ingest / browser key": ("newrelic-ingest",),
    "Plaid access token": ("plaid",),
    "Render API key": ("render",),
    "password in a scheme prefix (Dovecot, LDAP: {PLAIN}x, {SSHA}x, {SHA512-CRYPT}x)": (
        "dovecot-plain",
        "ldap-ssha",
    ),
}
EXTRA = {"1Password service account token": "ops_eyJ" + "aB3x9Qz7Lm2Np5Rt8Vw1Yc4" * 3}
ALL_FORMATS = [f.name for f in (*RUN_FORMATS, *ANYWHERE_FORMATS)]
#: Shapes close to a format that are not credentials (or not complete ones).
LOOK_ALIKES = [
    "sk-worker-7d9f8c6b5-x2k4z",
    "AKIA-not-a-key",
    "ghp_short",
    "xoxb-123",
    "sha256:9f86d081884c7d65",
    "eyJ-not.a-jwt",
    "pk_live_" + "a" * 24,
    "key-value-store",
    "SKIPPED_" + "0" * 30,
    "dapi-server",
    "glpat",
    "AIzaTooShort",
    "1//comment",
    "version 1.2.3.4",
]


def _samples(name: str) -> list[tuple[str, str]]:
    pairs = [TOKENS[key] for key in SAMPLES[name]]
    if name in EXTRA:
        pairs.append((EXTRA[name], EXTRA[name][7:]))
    return pairs


def test_every_format_of_the_table_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(ALL_FORMATS)
    assert all(_samples(name) for name in ALL_FORMATS)


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_each_format_is_redacted_wherever_it_sits(name: str) -> None:
    for token, secret in _samples(name):
        assert secret not in redact_vendor_tokens(token)
        carriers = (
            f"{token}",
            f"x {token} y",
            f'"{token}"',
            f"tok={token}&a=1",
            json.dumps({"k": token}),
            f"(see {token})\n",
            f"Value:\t{token},",
            f"pod-7d9f8c6b5-x2k4z-{token[:2]} {token}",
        )
        for carrier in carriers:
            out = redact_text(carrier)
            assert secret not in out, (name, carrier, out)
            assert secret[:8] not in out, (name, carrier, out)
            assert "<redacted>" in out


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert redact_vendor_tokens(text) == text
    assert redact_text(f"pod {text} is Running") == f"pod {text} is Running"


def test_a_webhook_keeps_its_host_and_loses_its_path() -> None:
    url, secret = TOKENS["slack-webhook"]
    out = redact_text(f"notify: {url}")
    assert out == "notify: https://hooks.slack.com/services/<redacted>"
    assert secret not in out


def test_base64_pem_blocks_are_told_apart_by_what_they_hold() -> None:
    key, _ = TOKENS["pem-base64"]
    cert = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Fo"
    assert redact_vendor_tokens(f"a: {key}") == "a: <redacted>"
    assert redact_vendor_tokens(f"a: {cert}") == f"a: {cert}"
