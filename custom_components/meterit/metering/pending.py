"""Closed windows waiting for the store, in bounded memory, without dropping energy.

A long outage's gap windows are lazy runs (a few numbers each). While the store cannot be
written, windows wait here; the only ones ever dropped are short windows (30 s) that the store
would purge anyway (older than its retention): the same energy is in the 5-minute windows.
"""

from __future__ import annotations

from .gapfill import SyntheticRun, WindowBatch
from .models import RESOLUTION_5MIN, Window
from .store import SHORT_RETENTION_S
from .timeline import Closed


class PendingWindows:
    """Windows to store and windows to add to stored ones (see :class:`~.timeline.Closed`)."""

    __slots__ = ("merges", "windows")

    def __init__(self) -> None:
        self.windows = WindowBatch()
        self.merges = WindowBatch()

    def __len__(self) -> int:
        return len(self.windows) + len(self.merges)

    def add(self, closed: Closed) -> None:
        """Queue what closed."""
        self.windows.extend(closed.windows)
        self.merges.extend(closed.merges)

    def take(self) -> tuple[WindowBatch, WindowBatch]:
        """Everything queued (windows, merges), oldest first; the queue is left empty."""
        taken = self.windows, self.merges
        self.windows, self.merges = WindowBatch(), WindowBatch()
        return taken

    def put_back(self, windows: WindowBatch, merges: WindowBatch, now: float) -> None:
        """Queue ``windows`` and ``merges`` (a failed write) before what closed since.

        Short windows older than the store's retention are dropped (never 5-minute ones).
        """
        windows.extend(self.windows)
        merges.extend(self.merges)
        self.windows = keep_recent(windows, now)
        self.merges = keep_recent(merges, now)


def keep_recent(batch: WindowBatch, now: float) -> WindowBatch:
    """``batch`` without the short windows the store would purge at ``now`` (5 min and up: all)."""
    since = now - SHORT_RETENTION_S
    out = WindowBatch()
    for part in batch.parts:
        if part.resolution >= RESOLUTION_5MIN:
            out.append(part)
        elif isinstance(part, Window):
            if part.end > since:
                out.append(part)
        else:
            out.append(SyntheticRun.split(part, since - part.resolution)[1])
    return out
