"""The thin producer embedded in tool servers: never-blocking emit, outbox, adapters.

Importing this package stays light: no chromadb, no onnxruntime, no MCP SDK. The SDK
adapters live in ``tooltrail.producer.middleware_mcp`` and
``tooltrail.producer.middleware_fastmcp``; the memory tools an agent may call
(``add_memory_tools``) in ``tooltrail.producer.memory_tools``, which loads Chroma's client and
the embedder on the first search only.
"""

from tooltrail.producer.calls import PROCESS_SESSION_ID, ToolCall, build_event, classify_op
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.enrichment import EnrichmentCache, current_enrichment
from tooltrail.producer.instrument import CallHandle, instrument, record_call
from tooltrail.producer.recorder import CallRecorder
from tooltrail.producer.settings import ProducerSettings
from tooltrail.producer.stats import ProducerStats

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
