"""Progress of long loops: a tqdm bar on a terminal, plain log lines elsewhere.

    for batch in progress.bar(batches, desc="features", unit="batch", disable=not show):
        ...

`bar` takes tqdm's arguments and returns a tqdm object (iterate it, or `update(n)`, `set_postfix(...)`, `close()`
it, or use it as a context manager). Where stderr is a terminal it is tqdm's own bar. Where it is not (a log
file, a pipe, a batch job) the bar is a `LineBar`: nothing is written to a stream and no carriage return is
made; instead one INFO record of the logger `convcorr_jax.core.progress` ("features:  50% 5/10 [00:03<00:03,
1.56batch/s]") every `every` steps (default: a tenth of the total, rounded up; no step count without a total)
but at most one per `gap` seconds (default 1 s: a loop of a second logs only its last line), at least every
`seconds` seconds while the loop advances, and once when it closes. The library only logs; what
is shown where is the program's choice (the `convcorr` command prints INFO records on stderr).
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable, Sized
from typing import Any

from tqdm import tqdm

LOG = logging.getLogger(__name__)
SECONDS = 30.0  # the longest gap between two lines while a loop advances
GAP = 1.0  # the shortest gap between two lines counted by steps
LINES = 10  # lines per bar with a known total (and one when it closes)


def on_terminal() -> bool:
    """Whether stderr is a terminal (progress as a bar) rather than a file or pipe (progress as log lines).

    Returns:
      bool; False also when stderr is None, closed or has no isatty.
    """
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _Discard:
    """A text stream that keeps nothing: where a LineBar's tqdm machinery would draw."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class LineBar(tqdm):
    """A tqdm bar that logs a plain line (INFO, `LOG`) every `every` steps (at most one per `gap` seconds) or
    `seconds` seconds, and one at the end, instead of drawing; no output stream is touched."""

    monitor_interval = 0  # no monitor thread: lines come from the loop itself

    def __init__(self, iterable: Iterable | None = None, *, every: int | None = None, seconds: float = SECONDS,
                 gap: float = GAP, **kwargs: Any):
        total = kwargs.get("total")
        if total is None and isinstance(iterable, Sized):
            total = len(iterable)
        if every is None and total:
            every = max(1, math.ceil(total / LINES))
        self.every, self.seconds, self.gap = every, seconds, gap
        self._logged_n: float | None = None
        self._logged_t = 0.0
        kwargs.update(file=_Discard(), mininterval=0, miniters=1, ncols=0, dynamic_ncols=False)
        super().__init__(iterable, **kwargs)
        self._logged_n, self._logged_t = self.n, self.start_t

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Log a plain line at most every tenth of the loop (and at the end) instead of drawing a bar."""
        if self._logged_n is None or self.n == self._logged_n:  # the opening refresh, or nothing new
            return True
        closing = self.disable  # close() sets it, then displays the last state
        now = self._time()
        since = now - self._logged_t
        due = (self.every is not None and self.n - self._logged_n >= self.every and since >= self.gap
               ) or since >= self.seconds
        if closing or due:
            LOG.info(self.format_meter(**dict(self.format_dict, ncols=0)))
            self._logged_n, self._logged_t = self.n, now
        return True


def bar(iterable: Iterable | None = None, *, disable: bool = False, every: int | None = None,
        seconds: float = SECONDS, gap: float = GAP, **kwargs: Any) -> tqdm:
    """A progress bar over `iterable` (or for `update(n)` calls, given `total=`): tqdm's bar on a terminal, a
    `LineBar` elsewhere.

    Args:
      iterable: what to iterate, or None (drive it with `update(n)`).
      disable: neither bar nor lines, a silent pass-through.
      every, seconds, gap: when a `LineBar` logs a line (every `every` steps, at most one per `gap` seconds; at
        least every `seconds` seconds while the loop advances).
      **kwargs: tqdm's arguments (`desc`, `total`, `unit`, `initial`, `leave`, `unit_scale`, ...).

    Returns:
      A tqdm object (a `LineBar` when stderr is not a terminal).
    """
    if disable or on_terminal():
        return tqdm(iterable, disable=disable, **kwargs)
    return LineBar(iterable, every=every, seconds=seconds, gap=gap, **kwargs)
