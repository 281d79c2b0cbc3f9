"""``VectorCache``: every distinct document is embedded once per process, whoever asks."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest

from tooltrail.consumers.memory.vector_cache import VectorCache, shared_cache


class Model:
    """A slow embedder that counts what it was asked to embed."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.asked: Counter[str] = Counter()
        self.delay = delay
        self.fail_on = fail_on
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[Any]:
        with self._lock:
            self.asked.update(texts)
        self.started.set()
        time.sleep(self.delay)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return [(len(t), t[::-1]) for t in texts]


def expected(texts: list[str]) -> list[Any]:
    return [(len(t), t[::-1]) for t in texts]


def test_two_writers_with_overlapping_batches_embed_each_text_once() -> None:
    cache, model = VectorCache(1000), Model(delay=0.05)
    first = [f"doc {i}" for i in range(60)]
    second = [f"doc {i}" for i in range(30, 90)]
    out: dict[str, list[Any]] = {}

    def run(name: str, texts: list[str]) -> None:
        out[name] = cache.embed("minilm", texts, model)

    a = threading.Thread(target=run, args=("a", first))
    a.start()
    model.started.wait(5)  # b arrives while a is still embedding 30..59
    b = threading.Thread(target=run, args=("b", second))
    b.start()
    a.join(10)
    b.join(10)
    assert out["a"] == expected(first)
    assert out["b"] == expected(second)
    assert set(model.asked.values()) == {1}  # no text embedded twice
    assert len(model.asked) == 90
    assert (cache.hits, cache.misses) == (30, 90)


def test_duplicates_in_one_batch_and_known_texts_are_not_embedded_again() -> None:
    cache, model = VectorCache(1000), Model()
    assert cache.embed("e", ["x", "y", "x"], model) == expected(["x", "y", "x"])
    assert cache.embed("e", ["y", "z"], model) == expected(["y", "z"])
    assert model.asked == Counter({"x": 1, "y": 1, "z": 1})
    cache.embed("other-embedder", ["x"], model)  # vectors of another model are not shared
    assert model.asked["x"] == 2


def test_a_failed_owner_leaves_the_waiter_to_compute_it_itself() -> None:
    cache, failing = VectorCache(1000), Model(delay=0.2, fail_on="bad")
    errors: list[BaseException] = []

    def owner() -> None:
        try:
            cache.embed("e", ["shared", "bad"], failing)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=owner)
    thread.start()
    failing.started.wait(5)
    healthy = Model()
    assert cache.embed("e", ["shared"], healthy) == expected(["shared"])  # waited, then computed
    thread.join(5)
    assert len(errors) == 1
    assert healthy.asked == Counter({"shared": 1})


def test_the_cache_is_bounded_least_recently_used_first_out() -> None:
    cache, model = VectorCache(2), Model()
    cache.embed("e", ["a", "b"], model)
    cache.embed("e", ["a"], model)  # a is now the most recent
    cache.embed("e", ["c"], model)  # evicts b
    cache.embed("e", ["a", "b"], model)
    assert model.asked == Counter({"a": 1, "b": 2, "c": 1})


def test_an_error_in_the_model_reaches_the_caller_and_frees_the_texts() -> None:
    cache = VectorCache(10)
    with pytest.raises(RuntimeError, match="model failed"):
        cache.embed("e", ["bad"], Model(fail_on="bad"))
    assert cache.embed("e", ["bad"], Model()) == expected(["bad"])  # not stuck as pending


def test_size_zero_turns_the_shared_cache_off() -> None:
    assert shared_cache(0) is None
    cache = shared_cache(8)
    assert cache is not None
    assert shared_cache(16) is cache
    assert cache.size >= 16


def test_a_model_returning_too_few_vectors_frees_its_texts() -> None:
    cache = VectorCache(10)
    with pytest.raises(ValueError, match=r"shorter|longer"):
        cache.embed("e", ["a", "b"], lambda texts: [(1, "a")])
    assert cache.embed("e", ["a", "b"], Model()) == expected(["a", "b"])  # not stuck pending
