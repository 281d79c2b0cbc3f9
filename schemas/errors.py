"""Errors shared by every tooltrail package.

Hierarchy::

    TooltrailError                 root: catch this to catch anything tooltrail raises on purpose
    ├── SchemaDecodeError          bytes that are not a valid wire message (carries ``reason``)
    └── SettingsError              a setting is invalid (carries ``field``, ``env``, ``value``)

``producer.errors`` and ``consumers.errors`` extend ``TooltrailError`` for their own cases.
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
