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
