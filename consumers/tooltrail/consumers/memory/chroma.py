"""Connecting to Chroma: the one client factory, and what its errors mean for a sink.

``open_chroma(settings)`` is the only way tooltrail connects: HTTP (``TOOLTRAIL_CHROMA_URL``)
or an embedded directory (``TOOLTRAIL_CHROMA_PATH``), with the token, tenant and database
configured, and an HTTP timeout on every call (``TOOLTRAIL_CHROMA_TIMEOUT_S``; chromadb's own
client waits forever). ``close_client`` also closes the HTTP sessions: chromadb 1.5's
``Client.close()`` leaves the underlying ``httpx.Client`` and its sockets open.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tooltrail.consumers.errors import RetriableSinkError, SinkError
from tooltrail.schemas.base import first_line
from tooltrail.schemas.errors import SettingsError

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


def open_client(
    url: str | None = None,
    *,
    path: Path | None = None,
    token: str | None = None,
    tenant: str = "default_tenant",
    database: str = "default_database",
    timeout: float = 30.0,
) -> Any:
    """A chromadb client for ``url`` (HTTP) or ``path`` (embedded PersistentClient)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    import httpx
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url is None:
        if path is None:
            raise SettingsError(
                [
                    "no Chroma configured: set TOOLTRAIL_CHROMA_URL (a server) or "
                    "TOOLTRAIL_CHROMA_PATH (a local directory)"
                ]
            )
        if getattr(chromadb, "is_client", False):  # the chromadb-client package ([worker])
            raise SettingsError(
                [
                    "TOOLTRAIL_CHROMA_PATH needs the full chromadb "
                    "(pip install 'tooltrail[memory]'); this install has "
                    "chromadb-client only: set TOOLTRAIL_CHROMA_URL"
                ]
            )
        return chromadb.PersistentClient(
            path=str(path), settings=settings, tenant=tenant, database=database
        )
    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    client = chromadb.HttpClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https",
        headers=headers,
        settings=settings,
        tenant=tenant,
        database=database,
    )
    for session in _sessions(client):
        session.timeout = httpx.Timeout(timeout)
    return client


def _sessions(client: Any) -> list[Any]:
    owners = (client, getattr(client, "_admin_client", None))
    found = [getattr(getattr(o, "_server", None), "_session", None) for o in owners]
    return [s for s in found if s is not None]


def close_client(client: Any) -> None:
    """Close ``client`` and the HTTP sessions of it and its admin client; never raises."""
    sessions = _sessions(client)
    with contextlib.suppress(Exception):
        client.close()
    for session in sessions:
        with contextlib.suppress(Exception):
            session.close()


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
