"""A thread of its own that runs jobs one after the other (no Home Assistant).

The power webhook writes every round of requests to SQLite from here rather than from Home
Assistant's executor: a thread that only waits on a queue and runs the job keeps the Python
work outside the event loop's thread small, and with it the time the event loop waits for the
GIL while a write is under way.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import queue
import threading

_LOGGER = logging.getLogger(__name__)


class SerialWorker:
    """Runs submitted jobs in order in one daemon thread, started on the first job."""

    def __init__(self, name: str) -> None:
        """Name the thread (it shows in thread dumps and profiles)."""
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: Callable[[], object]) -> None:
        """Queue ``job``; it runs after the jobs before it. Raises RuntimeError once stopped."""
        if self._stopped:
            raise RuntimeError(f"{self._name} is stopped")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put(job)

    def stop(self) -> None:
        """Let the thread end after the jobs already queued (does not wait for them)."""
        self._stopped = True
        if self._thread is not None:
            self._queue.put(None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for a stopped thread to end (blocks); True once it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:  # a job reports its own errors; this one forgot to
                _LOGGER.exception("%s: a job failed", self._name)
