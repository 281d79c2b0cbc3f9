"""What the ``tooltrail memory`` commands share: one clear error for Chroma, JSON printing."""

from __future__ import annotations

from typing import Any

import orjson

from tooltrail.consumers.errors import ConsumerError
from tooltrail.consumers.memory.chroma import open_chroma
from tooltrail.consumers.settings import WorkerSettings


def client_for(settings: WorkerSettings) -> Any:
    """A Chroma client, or one clear error: not configured (exit 2) or unreachable (exit 1)."""
    if not settings.chroma_configured:
        open_chroma(settings)  # raises SettingsError naming the variables
    try:
        return open_chroma(settings)
    except Exception as exc:
        where = settings.chroma_url or str(settings.chroma_path)
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConsumerError(
            f"cannot reach Chroma at {where} (TOOLTRAIL_CHROMA_URL): {detail}"
        ) from exc


def dump(data: object) -> None:
    print(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
