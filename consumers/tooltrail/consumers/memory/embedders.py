"""The offline embedders, where the workers have always imported them from.

They live in ``tooltrail.schemas.vectors.embedders`` because tool servers embed memory queries
with the very same functions (``tooltrail.producer.memory_tools``) and the producer must not
import the workers' packages.
"""

from tooltrail.schemas.vectors.embedders import (
    DIM,
    HashingEF,
    MiniLMOnnxEF,
    embedder_id,
    make_embedder,
)

__all__ = ["DIM", "HashingEF", "MiniLMOnnxEF", "embedder_id", "make_embedder"]
