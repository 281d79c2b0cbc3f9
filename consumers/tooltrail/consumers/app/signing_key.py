"""The enrichment key of a data dir: what ``up`` and ``infra`` give the enrich group and the
tool servers they start (README "Trust model"), unless one is configured."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TypeVar

from tooltrail.consumers.files import private_dir
from tooltrail.schemas.config import KafkaSettings

KEY_FILE = "enrichment.key"
S = TypeVar("S", bound=KafkaSettings)


def key_configured(settings: KafkaSettings) -> bool:
    """True if the settings already say how entries are signed (a key, a key file, unsigned)."""
    return bool(
        settings.enrichment_key or settings.enrichment_key_file or settings.enrichment_unsigned
    )


def data_dir_key(root: Path) -> Path:
    """``root/enrichment.key``, created once (64 hex characters, mode 0600, exclusively, never
    through a symbolic link) and reused by every later ``up`` or ``infra`` on that dir."""
    private_dir(root)
    path = root / KEY_FILE
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    return path


def with_data_dir_key(settings: S, root: Path) -> S:
    """``settings`` signing with the data dir's key when none is configured."""
    if key_configured(settings):
        return settings
    return settings.model_copy(update={"enrichment_key_file": data_dir_key(root).absolute()})
