"""Connecting a worker to Chroma, and what Chroma's errors mean for a sink.

``open_chroma(settings)`` is how a worker connects: HTTP (``TOOLTRAIL_CHROMA_URL``) or an
embedded directory (``TOOLTRAIL_CHROMA_PATH``), through the client factory the tool servers'
memory tools share (``tooltrail.schemas.vectors.chroma``: token, tenant, database, and an HTTP
timeout on every call, ``TOOLTRAIL_CHROMA_TIMEOUT_S``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from tooltrail.consumers.errors import RetriableSinkError, SinkError
from tooltrail.schemas.base import first_line
from tooltrail.schemas.vectors.chroma import close_client, open_client

__all__ = ["close_client", "open_chroma", "open_client", "sink_error"]

#: Chroma answers about the request itself (the data), not about its own health.
_DATA_ERRORS = {400, 409, 413}


class _ChromaSettings(Protocol):
    @property
    def chroma_url(self) -> str | None: ...
    @property
    def chroma_path(self) -> Path | None: ...
    @property
    def chroma_tenant(self) -> str: ...
    @property
    def chroma_database(self) -> str: ...
    @property
    def chroma_timeout_s(self) -> float: ...
    def chroma_token_value(self) -> str | None: ...


def open_chroma(settings: _ChromaSettings) -> Any:
    """A chromadb client for the configured server or directory (see module docstring).

    Raises:
        SettingsError: neither a URL nor a path is configured.
    """
    return open_client(
        settings.chroma_url,
        path=settings.chroma_path,
        token=settings.chroma_token_value(),
        tenant=settings.chroma_tenant,
        database=settings.chroma_database,
        timeout=settings.chroma_timeout_s,
    )


def sink_error(exc: Exception, what: str, *, about_data: bool) -> SinkError:
    """What a failed Chroma call means to the runner.

    Only a call that sends events' data (``about_data``: upsert, query) can fail because of
    the events: a request Chroma refused as invalid (400, 409, 413, or the client's own
    validation) gives ``SinkError`` (the runner isolates the events). Everything else —
    refused connections (chromadb reports those as ``ValueError`` when connecting), timeouts,
    5xx, 401/403, 429 — is about Chroma: ``RetriableSinkError``.
    """
    from chromadb.errors import AuthorizationError, ChromaAuthError, ChromaError

    text = f"{what}: {type(exc).__name__}: {first_line(str(exc), 200)}"
    if not about_data:
        return RetriableSinkError(text)
    if isinstance(exc, ChromaError) and not isinstance(exc, AuthorizationError | ChromaAuthError):
        return SinkError(text) if exc.code() in _DATA_ERRORS else RetriableSinkError(text)
    if isinstance(exc, ValueError | TypeError):  # the client's own checks of ids, metadata
        return SinkError(text)
    return RetriableSinkError(text)
