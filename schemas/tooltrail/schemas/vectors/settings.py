"""Where the memories are: the Chroma server, its collections and the embedder that built them.

One base for every reader and writer of the memory store (the workers' ``WorkerSettings`` and a
tool server's ``MemoryToolSettings``), so both read the same ``TOOLTRAIL_*`` variables with the
same bounds and the same refusal of a token sent in clear text.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from tooltrail.schemas.config import TooltrailSettings, env_alias

__all__ = ["ChromaSettings"]


class ChromaSettings(TooltrailSettings):
    """The Chroma server, its collections and the embedder (see module docstring)."""

    chroma_url: str | None = Field(None, pattern=r"^https?://[^\s/@]+(:\d+)?/?$")
    """Chroma server URL, e.g. `http://127.0.0.1:8000` (no credentials: use the token)."""
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
    """One collection with a `kind` key (`true`) or one collection per kind."""
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
    """`minilm` (offline MiniLM int8 ONNX) or `hashing` (tests); readers use the writers' one."""
    embed_threads: int = Field(1, ge=0, le=64)
    """onnxruntime threads per embedder (0 = onnxruntime decides)."""

    def chroma_token_value(self) -> str | None:
        """The Chroma token in clear (for the client factory only)."""
        return self.chroma_token.get_secret_value() if self.chroma_token else None

    def collection_names(self) -> list[str]:
        """The collections memories are written to, with this configuration."""
        if self.unified_memory:
            return [self.chroma_collection]
        return [f"{self.chroma_collection_prefix}{k}" for k in ("tool_exec", "failure", "incident")]

    @model_validator(mode="after")
    def _token_over_tls(self) -> Self:
        url = self.chroma_url or ""
        if self.chroma_token and url.startswith("http://") and not self.chroma_allow_http_token:
            raise ValueError(
                "TOOLTRAIL_CHROMA_TOKEN is set but TOOLTRAIL_CHROMA_URL is http://: the token "
                "would travel in clear text; use https:// or set "
                "TOOLTRAIL_CHROMA_ALLOW_HTTP_TOKEN=true"
            )
        return self
