"""The families of issue #27 through the producer: no planted secret reaches the encoded
event, every look-alike comes out unchanged, for the corpus of several seeds."""

from __future__ import annotations

import pytest

from tests.data.families import (
    FAMILY_BENIGN,
    FAMILY_CASES,
    FAMILY_NAMES,
    family_benign,
    family_cases,
)
from tests.data.secrets import Benign, Case
from tests.unit.test_redact_corpus import _unchanged, event_for, leaked
from tooltrail.schemas.codec import decode, encode
from tooltrail.schemas.events import ToolExecutionEvent


def _check_case(case: Case) -> None:
    wire = encode(event_for(case.where, case.payload))
    assert decode(wire, ToolExecutionEvent)
    for secret in case.secrets:
        assert not leaked(secret, wire), (case.family, case.carrier, secret, wire.decode())


def _check_benign(benign: Benign) -> None:
    event = event_for(benign.where, benign.payload)
    assert _unchanged(benign, event), (benign.payload, event.model_dump(mode="json"))


@pytest.mark.parametrize("case", FAMILY_CASES, ids=lambda c: c.family)
def test_no_secret_of_a_new_family_reaches_the_wire(case: Case) -> None:
    _check_case(case)


@pytest.mark.parametrize("benign", FAMILY_BENIGN, ids=lambda b: f"{b.carrier}/{b.where}")
def test_look_alikes_of_the_new_families_come_out_unchanged(benign: Benign) -> None:
    _check_benign(benign)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_other_random_parts_change_nothing(seed: int) -> None:
    for case in family_cases(seed):
        _check_case(case)
    for benign in family_benign(seed):
        _check_benign(benign)


def test_the_corpus_covers_every_family_of_the_issue() -> None:
    families = {case.family.split(":")[0] for case in FAMILY_CASES}
    assert (
        families
        == FAMILY_NAMES
        == {
            "managers",
            "iac",
            "webhooks",
            "material",
            "outputs",
            "tables",
            "encodings",
            "connections",
        }
    )
    for family in families:
        assert sum(c.family.startswith(family + ":") for c in FAMILY_CASES) >= 6, family
    secrets = [s for case in FAMILY_CASES for s in case.secrets]  # one secret, many carriers
    assert len(set(secrets)) >= 70
    assert all(len(s) >= 10 for s in secrets)
    assert {b.carrier for b in FAMILY_BENIGN} >= {"references", "public keys", "counters", "sizes"}


def test_a_fastmcp_result_is_walked_by_its_fields_so_a_key_blob_goes() -> None:
    import base64
    import os

    from fastmcp.tools.base import ToolResult
    from mcp_types import BlobResourceContents, EmbeddedResource, ImageContent

    key = base64.b64encode(os.urandom(48)).decode()  # a raw key file: no known benign format
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(32)).decode()
    result = ToolResult(
        content=[
            EmbeddedResource(
                type="resource", resource=BlobResourceContents(uri="file:///srv/k", blob=key)
            ),
            ImageContent(type="image", data=png, mimeType="image/png"),
        ]
    )
    wire = encode(event_for("value", result))
    assert not leaked(key, wire)
    assert png[:40] in wire.decode()


def test_colours_stay_unless_a_secret_hides_behind_them() -> None:
    from tooltrail.schemas.redact import redact_text

    coloured = "\x1b[32mRunning\x1b[0m web-0 \x1b]8;;https://x\x07link\x1b]8;;\x07"
    assert redact_text(coloured) == coloured  # a prefix of it redacts to a prefix of this
    out = redact_text("\x1b[34mpassword\x1b[0m: \x1b[1mS3cr3t-Pa55w0rd\x1b[0m")
    assert "S3cr3t" not in out
    assert "\x1b" not in out
