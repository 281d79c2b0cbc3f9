"""Settings of the application layer: what the CLI, ``up``, the benchmarks and the demo read.

The runtime's settings (``WorkerSettings``) and the producer's (``ProducerSettings``) stay where
they are; this class holds only what a person running ``tooltrail`` sets for the process.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tooltrail.schemas.config import TooltrailSettings, load_settings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class AppSettings(TooltrailSettings):
    """The settings of a person running ``tooltrail`` (log level, demo latency, status lines)."""

    log_level: LogLevel = "INFO"
    """stderr log level of every `tooltrail` command (`--log-level` wins)."""
    demo_latency_scale: float = Field(1.0, ge=0, le=100)
    """Multiplies the demo tool server's fake latencies (0 = none)."""
    up_status_interval_s: float = Field(10.0, gt=0, le=3600)
    """Seconds between `tooltrail up`'s plain status lines when stderr is not a terminal."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


def app_settings() -> AppSettings:
    """The application settings from the environment.

    Raises:
        SettingsError: naming the variable, its value and what is allowed.
    """
    return load_settings(AppSettings)


def explicitly_set(settings: TooltrailSettings, field: str) -> bool:
    """True if ``field`` came from the environment (or the caller), not from its default.

    ``up`` and the benchmarks start an embedded broker or Chroma only when none is configured.
    """
    return field in settings.model_fields_set
