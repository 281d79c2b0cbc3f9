"""The thin producer embedded in tool servers: never-blocking emit, outbox, adapters.

Importing this package stays light: no chromadb, no onnxruntime, no MCP SDK. The SDK
adapters live in ``producer.middleware_mcp`` and ``producer.middleware_fastmcp``.
"""

from producer.calls import PROCESS_SESSION_ID, ToolCall, build_event, classify_op
from producer.emitter import TrailProducer
from producer.enrichment import EnrichmentCache, current_enrichment
from producer.instrument import CallHandle, instrument, record_call
from producer.recorder import CallRecorder
from producer.settings import ProducerSettings
from producer.stats import ProducerStats

__all__ = [
    "PROCESS_SESSION_ID",
    "CallHandle",
    "CallRecorder",
    "EnrichmentCache",
    "ProducerSettings",
    "ProducerStats",
    "ToolCall",
    "TrailProducer",
    "build_event",
    "classify_op",
    "current_enrichment",
    "instrument",
    "record_call",
]
