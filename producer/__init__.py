"""The thin producer embedded in tool servers: settings now, the emitter and adapters next.

Importing this package must stay light: no chromadb, no onnxruntime, no MCP SDK.
"""

from producer.settings import ProducerSettings

__all__ = ["ProducerSettings"]
