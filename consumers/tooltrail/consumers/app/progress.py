"""Progress of a long command on stderr: a rich bar on a terminal, nothing elsewhere.

Commands that read a whole topic (``dlq list``, ``dlq replay all``) report how far they are;
a pipe or a log file gets no bar (its output is for a program), and an install without rich
(``tooltrail[worker]``) runs the same command without one.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

#: ``update(done, total)``: ``total`` None while unknown.
Update = Callable[[int, int | None], None]


def _noop(done: int, total: int | None) -> None:
    return None


@contextlib.contextmanager
def progress(label: str, unit: str) -> Iterator[Update]:
    """A bar named ``label`` counting ``unit`` on a terminal's stderr; a no-op elsewhere."""
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    except ModuleNotFoundError:
        yield _noop
        return
    if not sys.stderr.isatty():
        yield _noop
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        console=Console(stderr=True),
        transient=True,  # the command's own output stays the last thing on the screen
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
