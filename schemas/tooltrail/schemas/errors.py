"""Errors shared by every tooltrail package.

Hierarchy::

    TooltrailError                 root: catch this to catch anything tooltrail raises on purpose
    ├── SchemaDecodeError          bytes that are not a valid wire message (carries ``model``
    │                              and a one-line ``reason``)
    └── SettingsError              settings are invalid (carries ``problems``: one line each,
                                   naming the variable, the value and what is allowed)

``tooltrail.consumers.errors`` extends ``TooltrailError`` for the workers and the CLI; the
producer raises nothing of its own (instrumentation never raises into a tool call).
"""

from __future__ import annotations


class TooltrailError(Exception):
    """Root of every error tooltrail raises on purpose."""


class SchemaDecodeError(TooltrailError):
    """A message could not be decoded into the expected wire model.

    ``reason`` is a one-line, human-readable explanation that is safe to put in a
    dead-letter header (it never echoes the offending payload).
    """

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"cannot decode {model}: {reason}")


class SettingsError(TooltrailError):
    """One or more settings are invalid; the message names each field and what is allowed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid tooltrail settings:\n  " + "\n  ".join(problems))
