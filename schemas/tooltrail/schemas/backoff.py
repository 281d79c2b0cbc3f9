"""``Backoff``: the one exponential backoff of tooltrail, producer and workers alike.

``next()`` gives the delay to wait now and doubles the next one up to ``maximum``;
``reset()`` starts over after a success. ``jitter`` spreads each delay uniformly by that
fraction either way (0.2: 80 to 120 %), so members of a group that failed together do not
retry together.
"""

from __future__ import annotations

import random


class Backoff:
    """Exponential backoff with optional jitter (see module docstring)."""

    def __init__(
        self, initial: float, maximum: float, *, factor: float = 2.0, jitter: float = 0.0
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError(
                f"bad backoff: initial={initial} maximum={maximum} factor={factor} jitter={jitter}"
            )
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self.current = initial

    def next(self) -> float:
        """The delay to wait now; the one after it is ``factor`` times longer (capped)."""
        delay = self.current
        self.current = min(self.current * self.factor, self.maximum)
        if self.jitter:
            delay *= random.uniform(1 - self.jitter, 1 + self.jitter)  # noqa: S311 - jitter
        return delay

    def reset(self) -> None:
        """After a success: the next delay is ``initial`` again."""
        self.current = self.initial
