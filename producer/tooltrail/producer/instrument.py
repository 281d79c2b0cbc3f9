"""``@instrument`` and ``record_call``: instrument any sync or async function or block.

Outcomes: a normal return is ``ok``; an exception is ``tool_error`` and is re-raised
unchanged; cancellation (any ``BaseException`` that is not an ``Exception``) is ``cancelled``
and re-raised. Arguments are bound to parameter names so redaction sees ``password=...``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar, cast

from tooltrail.producer.calls import ToolCall
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.recorder import CallRecorder
from tooltrail.schemas.events import OpType, Outcome

P = ParamSpec("P")
R = TypeVar("R")


def _bound_args(sig: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return dict(sig.bind_partial(*args, **kwargs).arguments)
    except TypeError:
        return {"args": list(args), **kwargs}


def instrument(
    producer: TrailProducer,
    tool_id: str | None = None,
    *,
    op_type: OpType | None = None,
    session_id: str | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a sync or async function so every call becomes one event."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        name = tool_id or func.__name__
        recorder = CallRecorder(producer, {name: op_type} if op_type else None)
        sig = inspect.signature(func)

        if inspect.iscoroutinefunction(func):
            async_func = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                call = recorder.begin(name, _bound_args(sig, args, kwargs), session_id)
                try:
                    result = await async_func(*args, **kwargs)
                except BaseException as exc:
                    recorder.fail(call, exc, other=Outcome.TOOL_ERROR)
                    raise
                recorder.end(call, Outcome.OK, result=result)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            call = recorder.begin(name, _bound_args(sig, args, kwargs), session_id)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                recorder.fail(call, exc, other=Outcome.TOOL_ERROR)
                raise
            recorder.end(call, Outcome.OK, result=result)
            return result

        return wrapper

    return decorate


class CallHandle:
    """What ``record_call`` yields: set ``result`` to have it summarised in the event."""

    def __init__(self, call: ToolCall | None) -> None:
        self.call = call
        self.result: Any = None

    def anchor(self, text: str) -> None:
        """Attach an anchor (``key:value``) to the event."""
        if self.call is not None:
            self.call.anchors.append(text)


@contextmanager
def record_call(
    producer: TrailProducer, tool_id: str, args: Any = None, *, session_id: str | None = None
) -> Iterator[CallHandle]:
    """Record the enclosed block as one tool call (works in sync and async code)."""
    recorder = CallRecorder(producer)
    handle = CallHandle(recorder.begin(tool_id, args, session_id))
    try:
        yield handle
    except BaseException as exc:
        recorder.fail(handle.call, exc, other=Outcome.TOOL_ERROR, result=handle.result)
        raise
    recorder.end(handle.call, Outcome.OK, result=handle.result)
