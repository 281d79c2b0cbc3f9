"""Settings of the memory tools a tool server offers its agents (``memory_search``, …).

Where the memories are (the Chroma server, its collections, the embedder that built them) is
read from the same ``TOOLTRAIL_*`` variables the workers read, so one environment file serves
both; only the bounds of a tool call are the tool server's own. The scope a search is limited
to is not here: it is the tool server's ``TOOLTRAIL_ENVIRONMENT`` / ``TOOLTRAIL_DOMAIN``
(``ProducerSettings``), never an argument an agent could choose.
"""

from __future__ import annotations

from pydantic import Field

from tooltrail.schemas.vectors.settings import ChromaSettings


class MemoryToolSettings(ChromaSettings):
    """What ``memory_search`` and ``memory_get_stats`` read (see module docstring)."""

    memory_tools_timeout_s: float = Field(5.0, gt=0, le=120)
    """Longest a memory tool call takes: past it the agent gets "memory unavailable" (also the
    HTTP timeout of each Chroma request)."""
    memory_tools_result_bytes: int = Field(8_192, ge=1_024, le=65_536)
    """Largest JSON result of `memory_search`, in bytes (hits past it are left out, counted)."""
    memory_tools_stats_scan: int = Field(2_000, ge=1, le=100_000)
    """Most memories `memory_get_stats` reads per collection to count the scope's situations
    (more: the count says "at least")."""
