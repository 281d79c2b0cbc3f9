"""The application layer: what a person runs, built on the runtime in ``consumers``.

The ``tooltrail`` CLI and its sub-commands, ``up`` (every group in one process with the
embedded broker and Chroma), the embedded launcher, the live view, the benchmarks and the demo
tool server. This is the only part of ``consumers`` that imports ``producer``: the runtime
(runner, sinks, memory store, replay, topics) depends on ``schemas`` alone.
"""
