"""Cache keys agree across the wire; the tool server's cache is bounded and never fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltrail.producer.enrichment import EnrichmentCache
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import EnrichmentEntry, EnrichmentHit, redact
from tooltrail.schemas.keys import cache_key, parse_key_args

SCALARS = st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.floats(allow_nan=False))


NAMES = st.sampled_from(
    [
        "namespace",
        "pod",
        "selector",
        "token",
        "password",
        "limit",
        "url",
        "api_key",
        "query",
        "AccountKey",
        "ssh_key",
        "master_key",
        "name",
        "value",
        "conn",
        "command",
        "kind",
        "note",
        "primary_key",
    ]
)
#: Templates of every redaction family; ``{s}`` is where the secret goes.
TEMPLATES = st.sampled_from(
    [
        "Bearer {s}",
        "postgres://u:{s}@h/d",
        "token={s}",
        "sha256~{s}",
        "ghp_{s}",
        "sk_live_{s}",
        "xoxb-{s}",
        "glpat-{s}",
        "AKIA{s:.16}",
        "https://ci:pa/{s}@repo/x",
        "app:{s}@tcp(db:3306)/x",
        "AccountName=a;AccountKey={s};EndpointSuffix=x",
        "https://b/k?sv=1&sig={s}&se=2",
        "mysql -uroot -p{s} db",
        "password {s}",
        "API key: {s}",
        "DB_PASSWORD={s}",
        "auth:\n  password: {s}\n",
        '{{"name": "GITHUB_TOKEN", "value": "{s}"}}',
        "eyJhbGc.eyJ{s}.x",
    ]
)
SECRET_PARTS = st.text(alphabet="ABCDEFGHJKMNPQRSTUVWXYZ0123456789", min_size=36, max_size=40)
SECRETS = st.builds(lambda t, s: t.format(s=s), TEMPLATES, SECRET_PARTS)
STRUCTURED = st.builds(
    lambda name, s: [{"name": name, "value": s}],
    st.sampled_from(["TOKEN", "AWS_SECRET_KEY"]),
    SECRET_PARTS,
)


LONG_TEXT = st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=700)


@settings(max_examples=300, deadline=None)
@given(args=st.dictionaries(NAMES, SCALARS | SECRETS | STRUCTURED | LONG_TEXT))
def test_key_from_raw_args_equals_key_from_the_redacted_event(args: dict[str, Any]) -> None:
    assert cache_key("oc_read_get_pods", args) == cache_key("oc_read_get_pods", redact(args))


@settings(max_examples=300, deadline=None)
@given(
    base=st.dictionaries(NAMES, SCALARS, max_size=3),
    name=NAMES,
    template=TEMPLATES,
    one=SECRET_PARTS,
    other=SECRET_PARTS,
    pair=st.booleans(),
)
def test_no_key_depends_on_a_secret(
    base: dict[str, Any], name: str, template: str, one: str, other: str, pair: bool
) -> None:
    def planted(secret: str) -> dict[str, Any]:
        if pair:  # a top-level name/value pair: the name says the value is secret
            return {**base, "name": "DB_PASSWORD", "value": secret}
        return {**base, name: template.format(s=secret)}

    assert cache_key("t", planted(one)) == cache_key("t", planted(other))
    assert one[:8] not in cache_key("t", planted(one))


def test_key_ignores_secrets_and_respects_the_per_tool_scope() -> None:
    base = {"namespace": "payments", "pod": "web-1"}
    assert cache_key("t", {**base, "token": "a"}) == cache_key("t", {**base, "token": "b"})
    assert cache_key("t", base) != cache_key("t", {**base, "pod": "web-2"})
    scope = parse_key_args("t=namespace")
    assert cache_key("t", base, scope) == cache_key("t", {**base, "pod": "web-2"}, scope)
    assert cache_key("t", base).startswith("t:")
    with pytest.raises(ValueError, match="expected tool=arg"):
        parse_key_args("t=namespace;broken")


def _entry(key: str, age_s: float = 0.0) -> EnrichmentEntry:
    hit = EnrichmentHit(
        id="tool-exec_s_20261123T000000000Z_0123456789",
        summary="x",
        distance=0.1,
        kind="tool_exec",
        timestamp=datetime.now(UTC),
    )
    return EnrichmentEntry(
        key=key,
        tool_id="t",
        hits=(hit,),
        source_event_id="e",
        computed_at=datetime.now(UTC) - timedelta(seconds=age_s),
    )


def test_cache_is_bounded_lru_with_ttl_and_tombstones(tmp_path: Path) -> None:
    cache = EnrichmentCache(
        ProducerSettings(enrichment_max_entries=100, enrichment_ttl_s=60, outbox_dir=tmp_path)
    )
    keys = [cache_key("t", {"i": i}) for i in range(1000)]  # 10x the bound
    for key in keys[:100]:
        cache.apply(key, _entry(key))
    assert len(cache.lookup("t", {"i": 0})) == 1  # touch key 0: most recently used
    for key in keys[100:]:
        cache.apply(key, _entry(key))
    assert len(cache) == 100
    assert cache.lookup("t", {"i": 0}) == ()  # evicted at last despite the touch (900 newer)
    assert len(cache.lookup("t", {"i": 999})) == 1
    cache.apply(keys[999], None)  # tombstone
    assert cache.lookup("t", {"i": 999}) == ()
    cache.apply(keys[998], _entry(keys[998], age_s=120))
    assert cache.lookup("t", {"i": 998}) == ()  # older than the TTL
    assert cache.lookup("t", object()) == ()  # odd arguments: no hits, no error


async def test_mcp_middleware_attaches_hits_to_meta_only_when_asked(tmp_path: Path) -> None:
    from tooltrail.producer.emitter import TrailProducer
    from tooltrail.producer.middleware_mcp import META_KEY, TooltrailMiddleware

    class Ctx:
        method = "tools/call"
        params: ClassVar[dict[str, Any]] = {
            "name": "oc_read_get_pods",
            "arguments": {"namespace": "payments"},
        }
        request = None
        session = None

    async def call_next(_: Any) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}

    key = cache_key("oc_read_get_pods", {"namespace": "payments"})
    for attach in (False, True):
        producer = TrailProducer(outbox_dir=tmp_path / str(attach), presearch_attach_meta=attach)
        assert producer.enrichment is not None
        producer.enrichment.apply(key, _entry(key))
        result = await TooltrailMiddleware(producer)(Ctx(), call_next)  # type: ignore[arg-type]
        assert isinstance(result, dict)
        assert (META_KEY in result.get("_meta", {})) is attach
        if attach:
            meta = result["_meta"][META_KEY]
            assert meta["trust"] == "untrusted-data"
            assert meta["hits"][0]["id"] == _entry(key).hits[0].id
            assert meta["hits"][0]["excerpt"] == "x"
