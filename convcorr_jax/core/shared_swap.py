"""A process-wide setting (a hook in `sys`, a logger's level, the warning filters, a library's thread count) changed
for the length of a block that may run in several threads at once.

A block that saves what it finds and puts it back on leaving is wrong once two such blocks overlap in time: A saves
the original and installs its change, B saves A's change, A puts the original back, B puts A's change back, and the
change stays for good. `SharedSwap` makes the overlapping blocks share one change instead: the first in makes it and
saves what it found, the last out puts that back.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator


class SharedSwap:
    """One change of process-wide state, shared by the blocks that overlap in time (`with swap.held():`, from any
    thread): `install()` runs when the first block enters and returns what `restore(saved)` puts back when the last
    block leaves. Both run under the swap's lock, so a block never runs while the change is half made.

    Args:
      install: makes the change; returns what it found (anything `restore` takes).
      restore: puts back what `install` returned.
    """

    def __init__(self, install: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._install, self._restore = install, restore
        self._lock = threading.Lock()
        self._held = 0  # how many blocks are inside now
        self._saved: Any = None  # what the first of them found

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The change is in place within the block (made by the first of the overlapping blocks, undone by the last
        to leave; a failing `install` leaves nothing held).

        Returns:
          A context manager yielding None.
        """
        with self._lock:
            if self._held == 0:
                self._saved = self._install()
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                if self._held == 0:
                    saved, self._saved = self._saved, None
                    self._restore(saved)
