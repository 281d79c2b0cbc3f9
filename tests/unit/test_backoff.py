"""``Backoff``: doubling delays up to a cap, jittered within bounds, reset after success."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tooltrail.schemas.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_over_after_reset() -> None:
    backoff = Backoff(0.2, 1.0)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next() == 0.2


@given(st.floats(0.01, 10), st.floats(1, 100), st.floats(0, 0.9), st.integers(1, 30))
def test_jitter_stays_within_its_fraction_of_the_planned_delay(
    initial: float, spread: float, jitter: float, steps: int
) -> None:
    plain, jittered = (
        Backoff(initial, initial * spread),
        Backoff(initial, initial * spread, jitter=jitter),
    )
    for _ in range(steps):
        planned, got = plain.next(), jittered.next()
        assert planned * (1 - jitter) - 1e-9 <= got <= planned * (1 + jitter) + 1e-9
        assert planned <= initial * spread


@pytest.mark.parametrize(("initial", "maximum", "jitter"), [(0, 1, 0), (2, 1, 0), (1, 2, 1.0)])
def test_a_bad_policy_is_refused_naming_its_values(
    initial: float, maximum: float, jitter: float
) -> None:
    with pytest.raises(ValueError, match="bad backoff"):
        Backoff(initial, maximum, jitter=jitter)
