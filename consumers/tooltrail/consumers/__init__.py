"""The runtime: consumer groups, sinks, the memory store, replay and topics.

What a person runs (the CLI, ``up``, the embedded launcher, benchmarks, the demo) lives in
``tooltrail.consumers.app``.
"""

from tooltrail.consumers.errors import ConsumerError, LaunchError, RetriableSinkError, SinkError
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics, pipeline_topics
from tooltrail.consumers.settings import WorkerSettings

__all__ = [
    "ConsumerError",
    "LaunchError",
    "RetriableSinkError",
    "SinkError",
    "TopicSpec",
    "WorkerSettings",
    "ensure_topics",
    "pipeline_topics",
]
