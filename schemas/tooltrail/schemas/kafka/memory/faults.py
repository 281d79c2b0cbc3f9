"""``Faults``: what an in-memory broker does wrong on request, and how each request meets it.

Every client request passes ``admit`` first. The switches, all off at start:

* ``go_down()`` / ``come_back()``: the broker is unreachable; a request fails at once with
  ``KafkaConnectionError`` (what aiokafka does next is the client's affair: a producer keeps
  its batch until the request timeout, a consumer's fetch returns nothing).
* ``time_out(*kinds)`` / ``answer_in_time()``: requests of these kinds (``produce``, ``fetch``,
  ``metadata``, ``commit``, ``offsets``, ``admin``; none named = all) are never answered;
  the client gives up after its request timeout with ``RequestTimedOutError``; nothing is done.
* ``lose_acks()``: produce requests are written but never answered.
* ``hold_acks()`` / ``release_acks()``: produce requests are written at once and answered on
  release; ``delay_acks(s)``: answered ``s`` seconds after they were written.
* ``refuse(topic, error)`` / ``accept(topic)``: produce requests to ``topic`` fail with
  ``error`` (an aiokafka error class: ``TopicAuthorizationFailedError`` for good,
  ``NotEnoughReplicasError`` for a while), nothing written.
* ``stall()`` / ``resume()``: requests wait, unprocessed, until resumed (a paused broker); a
  client gives up after its request timeout, yet a produce request it gave up on is still
  written on resume, as a paused Kafka broker does with what it had received.
* ``heal()``: every switch off (held acks released).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka.errors import KafkaConnectionError, RequestTimedOutError

from tooltrail.schemas.kafka.memory.changes import Changes

KINDS = frozenset({"produce", "fetch", "metadata", "commit", "offsets", "admin"})


class Faults:
    """The fault switches of one broker (see module docstring)."""

    def __init__(self, changes: Changes, on_resume: Callable[[], None] = lambda: None) -> None:
        self._changes = changes
        self._on_resume = on_resume
        self.down = False
        self.timing_out: frozenset[str] = frozenset()
        self.acks = "normal"  # "normal", "lost", "held"
        self.ack_delay_s = 0.0
        self.stalled = False
        self._releases = 0  # bumped by release_acks: held answers go out
        self.refused: dict[str, type[Exception]] = {}  # topic -> the error its produce gets

    # --- switches -----------------------------------------------------------------------------
    def go_down(self) -> None:
        """Refuse every connection until ``come_back``."""
        self.down = True
        self._changes.notify()

    def come_back(self) -> None:
        """Accept connections again."""
        self.down = False
        self._changes.notify()

    def time_out(self, *kinds: str) -> None:
        """Leave requests of ``kinds`` (default: all) unanswered."""
        unknown = set(kinds) - KINDS
        if unknown:
            raise ValueError(f"unknown request kinds {sorted(unknown)}: {sorted(KINDS)}")
        self.timing_out = frozenset(kinds or KINDS)
        self._changes.notify()

    def answer_in_time(self) -> None:
        """Answer every kind of request again."""
        self.timing_out = frozenset()
        self._changes.notify()

    def lose_acks(self) -> None:
        """Write produce requests, never answer them."""
        self.acks = "lost"

    def hold_acks(self) -> None:
        """Write produce requests, answer them on ``release_acks``."""
        self.acks = "held"

    def release_acks(self) -> None:
        """Answer the held produce requests; answer new ones at once."""
        self.acks = "normal"
        self._releases += 1
        self._changes.notify()

    def delay_acks(self, seconds: float) -> None:
        """Answer produce requests ``seconds`` after writing them (0: at once)."""
        self.ack_delay_s = max(seconds, 0.0)

    def refuse(self, topic: str, error: type[Exception]) -> None:
        """Fail every produce request to ``topic`` with ``error``."""
        self.refused[topic] = error

    def accept(self, topic: str) -> None:
        """Take produce requests to ``topic`` again."""
        self.refused.pop(topic, None)

    def stall(self) -> None:
        """Keep every request waiting, unprocessed, until ``resume``."""
        self.stalled = True

    def resume(self) -> None:
        """Process what waited, and every request from now on."""
        self.stalled = False
        self._on_resume()
        self._changes.notify()

    def heal(self) -> None:
        """Every switch off; held answers go out."""
        self.down = False
        self.timing_out = frozenset()
        self.ack_delay_s = 0.0
        self.refused.clear()
        self.resume()
        self.release_acks()

    # --- what a request meets -----------------------------------------------------------------
    async def admit(self, kind: str, timeout_s: float) -> None:
        """Return when a request of ``kind`` may be processed.

        Raises:
            KafkaConnectionError: the broker is down.
            RequestTimedOutError: unanswered for ``timeout_s`` (stalled, or timing out).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self._changes.version
            if self.down:
                raise KafkaConnectionError("in-memory broker is down")
            if kind not in self.timing_out and not self.stalled:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimedOutError(f"{kind} request not answered in {timeout_s:.3g}s")
            await self._changes.wait(seen, left)

    async def answer(self, timeout_s: float) -> None:
        """Wait as the ack switches say before a written produce request is answered.

        Raises:
            RequestTimedOutError: the answer is lost, or held past ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        if self.ack_delay_s:
            await asyncio.sleep(min(self.ack_delay_s, timeout_s))
        release = self._releases
        while self.acks == "lost" or (self.acks == "held" and self._releases == release):
            seen = self._changes.version
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimedOutError(f"produce answer not received in {timeout_s:.3g}s")
            await self._changes.wait(seen, left)
        if time.monotonic() > deadline and self.ack_delay_s >= timeout_s:
            raise RequestTimedOutError(f"produce answer not received in {timeout_s:.3g}s")
