"""Connecting to Chroma: an HTTP server (``TOOLTRAIL_CHROMA_URL``) or an embedded path.

``close_client`` also closes the HTTP session: chromadb 1.5's ``Client.close()`` releases
its shared system but leaves the underlying ``httpx.Client`` (and its sockets) open.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def open_client(
    url: str | None = None, *, path: Path | None = None, token: str | None = None
) -> Any:
    """Return a chromadb client for ``url`` (HTTP) or ``path`` (embedded PersistentClient)."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url is None:
        if path is None:
            raise ValueError("either a chroma url or a path is required")
        return chromadb.PersistentClient(path=str(path), settings=settings)
    parts = urlsplit(url)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return chromadb.HttpClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https",
        headers=headers,
        settings=settings,
    )


def close_client(client: Any) -> None:
    """Close ``client`` and the HTTP sessions of it and its admin client; never raises."""
    owners = (client, getattr(client, "_admin_client", None))
    sessions = [getattr(getattr(o, "_server", None), "_session", None) for o in owners]
    with contextlib.suppress(Exception):
        client.close()
    for session in sessions:
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()
