"""The runtime: consumer groups, sinks, the memory store, replay and topics.

What a person runs (the CLI, ``up``, the embedded launcher, benchmarks, the demo) lives in
``consumers.app``.
"""

from consumers.errors import ConsumerError, LaunchError, RetriableSinkError, SinkError
from consumers.settings import WorkerSettings
from consumers.topics import TopicSpec, ensure_topics, pipeline_topics

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
