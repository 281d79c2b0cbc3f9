"""Settings of the memory tools a tool server offers its agents (``memory_search``, …).

Where the memories are (the Chroma server, its collections, the embedder that built them) is
read from the same ``TOOLTRAIL_*`` variables the workers read, so one environment file serves
both; only the bounds of a tool call are the tool server's own. The scope a search is limited
to is not here: it is the tool server's ``TOOLTRAIL_ENVIRONMENT`` / ``TOOLTRAIL_DOMAIN``
(``ProducerSettings``), never an argument an agent could choose.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from tooltrail.schemas.config import TooltrailSettings, env_alias


class MemoryToolSettings(TooltrailSettings):
    """What ``memory_search`` and ``memory_get_stats`` read (see module docstring)."""

    chroma_url: str | None = Field(None, pattern=r"^https?://[^\s/@]+(:\d+)?/?$")
    """Chroma server the memory tools read, e.g. `http://127.0.0.1:8000` (unset: the tools
    answer that memory is not configured)."""
    chroma_token: SecretStr | None = None
    """Bearer token for the Chroma server (secret)."""
    chroma_allow_http_token: bool = False
    """Allow `TOOLTRAIL_CHROMA_TOKEN` over an `http://` URL (it travels in clear text)."""
    chroma_tenant: str = "default_tenant"
    """Chroma tenant."""
    chroma_database: str = "default_database"
    """Chroma database."""
    unified_memory: bool = Field(
        True, validation_alias=env_alias("unified_memory", "UNIFIED_MEMORY")
    )
    """One collection with a `kind` key (`true`) or one collection per kind (as the workers)."""
    chroma_collection: str = Field(
        "tooltrail_memory",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$",
        validation_alias=env_alias("chroma_collection", "CHROMA_COLLECTION"),
    )
    """Collection name in unified mode."""
    chroma_collection_prefix: str = Field(
        "tooltrail_",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$",
        validation_alias=env_alias("chroma_collection_prefix", "CHROMA_COLLECTION_PREFIX"),
    )
    """Collection name prefix in separate mode."""
    embedder: Literal["minilm", "hashing"] = "minilm"
    """Embedder of the queries: the one the memory workers use (`minilm` or `hashing`)."""
    embed_threads: int = Field(1, ge=0, le=64)
    """onnxruntime threads of the query embedder (0 = onnxruntime decides)."""
    memory_tools_timeout_s: float = Field(5.0, gt=0, le=120)
    """Longest a memory tool call takes: past it the agent gets "memory unavailable" (also the
    HTTP timeout of each Chroma request)."""
    memory_tools_result_bytes: int = Field(8_192, ge=1_024, le=65_536)
    """Largest JSON result of `memory_search`, in bytes (hits past it are left out, counted)."""
    memory_tools_stats_scan: int = Field(2_000, ge=1, le=100_000)
    """Most memories `memory_get_stats` reads per collection to count the scope's situations
    (more: the count says "at least")."""

    def chroma_token_value(self) -> str | None:
        """The Chroma token in clear (for the client factory only)."""
        return self.chroma_token.get_secret_value() if self.chroma_token else None

    def collection_names(self) -> list[str]:
        """The collections the workers write memories to, with this configuration."""
        if self.unified_memory:
            return [self.chroma_collection]
        return [f"{self.chroma_collection_prefix}{k}" for k in ("tool_exec", "failure", "incident")]

    @model_validator(mode="after")
    def _token_over_tls(self) -> MemoryToolSettings:
        url = self.chroma_url or ""
        if self.chroma_token and url.startswith("http://") and not self.chroma_allow_http_token:
            raise ValueError(
                "TOOLTRAIL_CHROMA_TOKEN is set but TOOLTRAIL_CHROMA_URL is http://: the token "
                "would travel in clear text; use https:// or set "
                "TOOLTRAIL_CHROMA_ALLOW_HTTP_TOKEN=true"
            )
        return self
