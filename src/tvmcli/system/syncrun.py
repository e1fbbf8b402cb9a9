"""Running a coroutine to completion from synchronous code, whether or not the calling thread
already runs an event loop (Jupyter, an async web framework calling a sync helper, ...)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


def blocking(function: Callable[P, Coroutine[Any, Any, T]], doc: str) -> Callable[P, T]:
    """The synchronous twin of an async function: the same parameters (for callers, mypy and
    `help()`), run by `run_sync`; `doc` says how it differs."""

    @functools.wraps(function)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(lambda: function(*args, **kwargs))

    twin.__name__ = twin.__qualname__ = function.__name__.removesuffix("_async")
    twin.__doc__ = doc
    return twin


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(make())`, or, inside a running loop, the same on a helper thread (a loop
    cannot be re-entered, and blocking it from inside would deadlock)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    result: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(make()))
        except BaseException as exc:  # handed back to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=work, name="tvmcli-sync", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
