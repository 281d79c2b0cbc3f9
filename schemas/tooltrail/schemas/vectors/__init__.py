"""Vectors shared by the workers and the tool servers' memory tools: the offline embedders and
the Chroma client factory. Nothing here is imported by ``tooltrail.schemas`` itself: these
modules need the ``[worker]``/``[memory]``/``[memory-tools]`` libraries (chromadb, onnxruntime)."""
