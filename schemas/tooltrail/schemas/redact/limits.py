"""The bounds of redaction, and the per-event budget a copy of them can carry.

Every bound is a documented setting of the producer (``ProducerSettings.redaction_limits``):
depth, width, string length, total size, the scan window, and the budget of one event (or
one log record): characters scanned and CPU time (``budget``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tooltrail.schemas.redact.budget import RedactionBudget


@dataclass(frozen=True, slots=True)
class RedactionLimits:
    """Bounds applied while redacting; every limit is a documented setting of the producer.

    ``max_scan_chars`` and ``max_cpu_ms`` bound one event (or one log record): pass the
    copy ``with_budget()`` returns to every call made for it, so they share one budget.
    Limits without a budget give each call a budget of its own.
    """

    max_depth: int = 6
    max_items: int = 50
    max_string: int = 1024
    max_nodes: int = 500
    max_key: int = 128
    scan_margin: int = 8192
    max_scan_chars: int = 262_144
    max_cpu_ms: float = 10.0
    budget: RedactionBudget | None = field(default=None, compare=False, repr=False)

    @property
    def scan_window(self) -> int:
        """How much of a string is scanned for secrets before it is cut to ``max_string``."""
        return self.max_string + self.scan_margin

    def with_budget(self) -> RedactionLimits:
        """A copy carrying a fresh budget, shared by every call it is given (one event)."""
        return RedactionLimits(  # not dataclasses.replace: this runs once per event
            self.max_depth,
            self.max_items,
            self.max_string,
            self.max_nodes,
            self.max_key,
            self.scan_margin,
            self.max_scan_chars,
            self.max_cpu_ms,
            self.new_budget(),
        )

    def new_budget(self) -> RedactionBudget:
        """A fresh budget of ``max_scan_chars`` characters and ``max_cpu_ms`` of CPU time."""
        return RedactionBudget(self.max_scan_chars, self.max_cpu_ms)


DEFAULT_LIMITS = RedactionLimits()
#: Inside JSON text: the text is already bounded by its window, so nothing more is cut.
TEXT_LIMITS = RedactionLimits(
    max_depth=48, max_items=1 << 30, max_string=1 << 30, max_nodes=1 << 30, max_key=1 << 30
)
