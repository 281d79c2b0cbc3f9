"""``VectorCache``: each distinct document is embedded once per process.

In ``tooltrail up`` (and any process running both the memory and the enrich group) the two
groups read the same events at about the same time and embed the same memory documents;
embedding is by far their largest cost (two MiniLM passes per event on 2 cores). This cache
maps (embedder id, SHA-256 of the text) to the vector, least recently used first out, and
knows which texts another thread is embedding right now: a second group waits for that
result instead of computing it again. If the thread computing a text fails, a waiter
computes it itself. Thread-safe; bounded by ``TOOLTRAIL_EMBED_CACHE_SIZE`` vectors (0 = off).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

Embed = Callable[[list[str]], Sequence[Any]]
_WAIT_S = 120.0  # longest wait for another thread's result before computing it here


class VectorCache:
    """Vectors by content, shared by every embedding writer of one process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0  # texts served without embedding (found, or computed by another thread)
        self.misses = 0  # texts embedded here
        self._vectors: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
        self._pending: dict[tuple[str, bytes], threading.Event] = {}
        self._lock = threading.Lock()

    def embed(self, embedder_id: str, texts: Sequence[str], compute: Embed) -> list[Any]:
        """One vector per text; only texts nobody has (or is computing) go to ``compute``."""
        keys = [
            (embedder_id, hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest())
            for t in texts
        ]
        text_of = dict(zip(keys, texts, strict=True))
        found: dict[tuple[str, bytes], Any] = {}
        mine: dict[tuple[str, bytes], str] = {}
        waits: dict[tuple[str, bytes], threading.Event] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if key in found or key in mine or key in waits:
                    continue  # the same text twice in one batch is embedded once
                if (vector := self._vectors.get(key)) is not None:
                    self._vectors.move_to_end(key)
                    found[key] = vector
                elif (event := self._pending.get(key)) is not None:
                    waits[key] = event
                else:
                    self._pending[key] = threading.Event()
                    mine[key] = text
        self._compute(mine, found, compute)
        late: dict[tuple[str, bytes], str] = {}
        deadline = time.monotonic() + _WAIT_S  # one bound for all waits, not one per text
        for key, event in waits.items():
            event.wait(max(0.0, deadline - time.monotonic()))
            with self._lock:
                vector = self._vectors.get(key)
            if vector is None:  # its owner failed, or it was already evicted
                late[key] = text_of[key]
            else:
                found[key] = vector
        self._compute(late, found, compute, claimed=False)
        with self._lock:
            self.hits += len(keys) - len(mine) - len(late)
            self.misses += len(mine) + len(late)
        return [found[key] for key in keys]

    def _compute(
        self,
        todo: dict[tuple[str, bytes], str],
        found: dict[tuple[str, bytes], Any],
        compute: Embed,
        *,
        claimed: bool = True,
    ) -> None:
        if not todo:
            return
        try:
            computed = dict(zip(todo, compute(list(todo.values())), strict=True))
        except BaseException:  # including a model that returns the wrong number of vectors
            if claimed:
                self._release(todo, {})
            raise
        found.update(computed)
        self._release(todo if claimed else {}, computed)

    def _release(self, claimed: dict[tuple[str, bytes], str], computed: dict[Any, Any]) -> None:
        with self._lock:
            if self.size > 0:
                for key, vector in computed.items():
                    self._vectors[key] = vector
                    self._vectors.move_to_end(key)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
            for key in claimed:
                event = self._pending.pop(key, None)
                if event is not None:
                    event.set()


_shared: VectorCache | None = None
_shared_lock = threading.Lock()


def shared_cache(size: int) -> VectorCache | None:
    """The process's cache (created on first use, grown to the largest size asked), or None."""
    global _shared
    if size <= 0:
        return None
    with _shared_lock:
        if _shared is None:
            _shared = VectorCache(size)
        _shared.size = max(_shared.size, size)
        return _shared


def current_cache() -> VectorCache | None:
    """The process's cache if a writer has created it."""
    return _shared
