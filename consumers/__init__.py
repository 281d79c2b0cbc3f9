"""The workers: consumer groups, sinks, the embedded launcher and the ``tooltrail`` CLI."""

from consumers.errors import ConsumerError, LaunchError, RetriableSinkError, SinkError
from consumers.launcher import ChromaServer, EmbeddedBroker, free_port
from consumers.settings import WorkerSettings
from consumers.topics import TopicSpec, ensure_topics, pipeline_topics

__all__ = [
    "ChromaServer",
    "ConsumerError",
    "EmbeddedBroker",
    "LaunchError",
    "RetriableSinkError",
    "SinkError",
    "TopicSpec",
    "WorkerSettings",
    "ensure_topics",
    "free_port",
    "pipeline_topics",
]
