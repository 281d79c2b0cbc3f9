"""Connecting to Chroma over HTTP or to a local directory, for workers and tool servers alike.

``open_client`` is the one place a chromadb client is built: the token, tenant and database
configured, and an HTTP timeout on every call (chromadb's own client waits forever).
``close_client`` also closes the HTTP sessions: chromadb 1.5's ``Client.close()`` leaves the
underlying ``httpx.Client`` and its sockets open. chromadb and httpx are imported on the first
call only, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tooltrail.schemas.errors import SettingsError

__all__ = ["close_client", "open_client"]


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
