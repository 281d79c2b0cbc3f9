"""Errors of the workers and the CLI.

Hierarchy::

    schemas.TooltrailError
    └── ConsumerError              anything a worker raises on purpose
        ├── UsageError             what the user typed is not usable (the CLI exits 2)
        ├── LaunchError            the embedded broker or chroma server could not start
        ├── DeadLetterError        a dead letter was not accepted (``retriable``)
        └── SinkError              a sink could not write some events of a batch: the runner
            │                      isolates the event(s) and dead-letters them
            └── RetriableSinkError the write may succeed later (``retry_after`` seconds):
                                   Chroma or the disk is unavailable, nothing is wrong with
                                   the events; the runner pauses and retries
"""

from __future__ import annotations

from tooltrail.schemas.errors import TooltrailError


class ConsumerError(TooltrailError):
    """Root of the workers' errors."""


class UsageError(ConsumerError):
    """An argument or input the user gave cannot be used; the message names it."""


class LaunchError(ConsumerError):
    """An embedded process (broker, chroma) could not be started."""


class DeadLetterError(ConsumerError):
    """Kafka did not accept a dead letter; ``retriable`` says whether waiting may help."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class SinkError(ConsumerError):
    """A sink failed to write a batch."""


class RetriableSinkError(SinkError):
    """A sink failed for a reason that may pass (disk full, Chroma down): pause and retry."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
