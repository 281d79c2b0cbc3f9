"""tooltrail: each tool call of an MCP server as a Kafka event, and what consumer groups make of it.

Three packages under one namespace: ``tooltrail.schemas`` (the wire: models, codec, redaction),
``tooltrail.producer`` (embedded in tool servers) and ``tooltrail.consumers`` (the workers and
the ``tooltrail`` command). Importing ``tooltrail`` itself loads nothing else.
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
