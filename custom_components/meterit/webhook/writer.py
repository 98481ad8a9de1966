"""Group-commit write rounds: every request waiting, and every closed window, in one job.

One round at a time: a round takes every request waiting and every closed window, writes them in
one job on the writer thread (one INSERT for the readings), and the thread hands the outcome
straight back to the event loop (``call_soon_threadsafe``): the stored readings go to the
coordinator (:meth:`~.coordinator.WebhookCoordinator.apply`), the requests are answered in the
next loop iteration, and the next round (what arrived meanwhile) starts at once, or
``ROUND_INTERVAL`` after the last one. No task sits between the two: on a busy webhook each hop
through the event loop is latency every waiting request pays. So a burst costs one SQLite commit,
not one per request.

A failure to store readings fails the round's requests (503: send again); a failure to store
windows keeps them for a later round. Each is logged once per outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
import time
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback

from ..const import DOMAIN, LOGGER
from ..metering import (
    InvalidRecordError,
    MeterStore,
    PreparedReadings,
    SerialWorker,
    StoreError,
    StoreUnavailableError,
)
from ..metering.gapfill import WindowBatch
from ..metering.pending import keep_recent
from ..powerhook import PowerReading

if TYPE_CHECKING:
    from .coordinator import WebhookCoordinator

ROUND_INTERVAL: float = 0.002
"""Write rounds start at most this often (s): under load one commit carries more requests, which
costs the writer thread less; a request that finds the writer idle long enough never waits for
it. Tests set it to 0 (its own test sets it back)."""


@dataclass(slots=True)
class QueuedRequest:
    """One request waiting for its round: its checked rows, its readings, the handler's future.

    ``readings`` and ``prices`` are in the order of ``rows`` (a batch's by time); ``checked``
    names the rows (readings with the sensor's own time) not stored again when already stored
    (a batch sent again). The future gets the number of readings stored.
    """

    rows: PreparedReadings
    readings: Sequence[PowerReading]
    prices: Sequence[float | None]
    future: asyncio.Future[int]
    checked: Sequence[int] = ()


@dataclass(slots=True)
class _Outcome:
    """What a write round did: an error per request (None: stored), and the windows."""

    errors: list[Exception | None]
    windows_written: bool
    window_error: Exception | None = None
    unexpected: Exception | None = None
    """A bug rather than a store failure (logged with its traceback, once)."""
    last_id: int = 0
    """The meterlog ``id`` of the round's last reading (0: none stored)."""
    kept: list[list[int] | None] | None = None
    """Per request, the indexes of its rows stored (None: all; the duplicates are left out)."""


class WebhookWriter:
    """The write rounds of one webhook entry, on a writer thread of its own."""

    def __init__(self, hass: HomeAssistant, coordinator: WebhookCoordinator) -> None:
        """Prepare the writer thread; rounds start with the first request."""
        self._hass = hass
        self._coordinator = coordinator
        self._store: MeterStore = coordinator.store
        self._title = coordinator.config_entry.title
        self._pending: list[QueuedRequest] = []
        self.windows = WindowBatch()
        """Closed windows waiting for a round (the stations' aggregators add to them)."""
        self._worker = SerialWorker(f"{DOMAIN} webhook writer")
        self._round_running = False
        self._closed = False
        self.stopping = False
        """Set when the webhook stops: the final rounds take only what was queued before."""
        self._last_round = float("-inf")
        self._round_timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._hold_windows = False
        self._windows_failing = False
        self._readings_failing = False

    @callback
    def close(self) -> None:
        """After the final rounds: refuse whatever is still queued, stop the writer thread."""
        self._cancel_round_timer()
        self._closed = True
        pending, self._pending = self._pending, []
        stopped = StoreUnavailableError("the webhook is stopped")
        for request in pending:
            if not request.future.done():
                request.future.set_exception(stopped)
        self._worker.stop()

    async def async_write(self, request: QueuedRequest) -> int:
        """Queue a request for the next round and wait until it is stored (or raise StoreError).

        Once stored, its readings are applied to the live state before it is answered. Returns
        how many of its readings were stored (the others were duplicates).
        """
        if self.stopping:  # (the final rounds take only what was queued before the stop)
            raise StoreUnavailableError("the webhook is stopped")
        self._pending.append(request)
        if len(self._pending) == 1 and not self._round_running:
            # start at the end of this loop iteration: requests read together go together
            self._hass.loop.call_soon(self.start_round)
        return await request.future

    @callback
    def start_round(self, *, retry_windows: bool = False) -> None:
        """Start a round unless one is running or there is nothing to write.

        Windows held back after a failure go with the next request, or when ``retry_windows``
        (the watchdog, the stop) asks for them.
        """
        if self._round_running or self._closed:
            return
        windows_due = bool(self.windows) and (retry_windows or not self._hold_windows)
        if not self._pending and not windows_due:
            return
        now = self._hass.loop.time()
        if not retry_windows and (wait := self._last_round + ROUND_INTERVAL - now) > 0:
            if self._round_timer is None:
                self._round_timer = self._hass.loop.call_later(wait, self._round_timer_fired)
            return
        self._cancel_round_timer()
        self._last_round = now
        batch, self._pending = self._pending, []
        windows, self.windows = self.windows, WindowBatch()
        self._hold_windows = False
        self._worker.submit(partial(self._write_round, batch, windows))
        self._round_running = True
        self._idle.clear()

    @callback
    def _round_timer_fired(self) -> None:
        self._round_timer = None
        self.start_round()

    @callback
    def _cancel_round_timer(self) -> None:
        if self._round_timer is not None:
            self._round_timer.cancel()
            self._round_timer = None

    def _write_round(self, batch: list[QueuedRequest], windows: WindowBatch) -> None:
        """Writer thread: write one round, then hand its outcome to the event loop."""
        try:
            outcome = self._write(batch, windows)
        except Exception as err:  # noqa: BLE001 - every waiting request must get an answer
            outcome = _Outcome([err] * len(batch), windows_written=False, unexpected=err)
        try:
            self._hass.loop.call_soon_threadsafe(self._round_done, batch, windows, outcome)
        except RuntimeError:  # the event loop is closed: Home Assistant is gone
            return

    def _write(self, batch: list[QueuedRequest], windows: WindowBatch) -> _Outcome:
        """Writer thread: readings (their failure fails the requests), then windows (it does not).

        Once the readings are committed nothing can fail the requests any more: whatever goes
        wrong with the windows is reported with them.
        """
        kept: list[list[int] | None] | None = None
        try:
            if any(request.checked for request in batch):
                # readings with their own time: one sent again is not stored again
                last_id, kept = self._store.add_prepared_once(
                    [request.rows for request in batch], [request.checked for request in batch]
                )
            else:
                last_id = self._store.add_prepared(*(request.rows for request in batch))
        except StoreError as err:
            return _Outcome([err] * len(batch), windows_written=False)
        window_error: Exception | None = None
        if windows:
            try:
                self._store.write_windows(windows)
            except Exception as err:  # noqa: BLE001 - reported on the event loop
                window_error = err
        return _Outcome(
            [None] * len(batch),
            windows_written=window_error is None,
            window_error=window_error,
            last_id=last_id,
            kept=kept,
        )

    @callback
    def _round_done(
        self, batch: list[QueuedRequest], windows: WindowBatch, outcome: _Outcome
    ) -> None:
        """Apply what was stored, answer the requests, settle the windows, start the next round.

        The readings the round stored go to the stations at once, in the order stored (a
        restart replays them in that order), also those of a request whose client went away:
        they are stored. Duplicates left out are not applied again. Whatever fails here, the
        next round starts: one bad round never stalls the webhook.
        """
        try:
            readings: list[PowerReading] = []
            prices: list[float | None] = []
            refused: list[QueuedRequest] = []
            kept = outcome.kept or [None] * len(batch)
            for request, error, rows in zip(batch, outcome.errors, kept, strict=True):
                if error is None:
                    if rows is None:
                        readings.extend(request.readings)
                        prices.extend(request.prices)
                        count = request.rows.count
                    else:
                        readings.extend(request.readings[index] for index in rows)
                        prices.extend(request.prices[index] for index in rows)
                        count = len(rows)
                    self._coordinator.accepted += count
                    if not request.future.done():
                        request.future.set_result(count)
                else:
                    refused.append(request)
            self._readings_done(refused, outcome)
            if readings:
                self._coordinator.apply(readings, prices)
                # the state saved from now on holds them: a restart replays only later ones
                saved = self._coordinator.saved
                saved.applied_id = max(saved.applied_id, outcome.last_id)
            if windows:
                self._windows_done(windows, outcome)
        except Exception:  # noqa: BLE001 - logged; the webhook must go on
            LOGGER.exception("Power webhook %s: a write round failed", self._title)
        finally:
            self._round_running = False
            self.start_round()
            if not self._round_running:
                self._idle.set()

    @callback
    def _readings_done(self, refused: list[QueuedRequest], outcome: _Outcome) -> None:
        """Answer the refused requests (503: send again); log once per outage, not per request."""
        if not refused:
            if self._readings_failing and outcome.errors:
                self._readings_failing = False
                LOGGER.info("Power webhook %s: readings stored again", self._title)
            return
        error: Exception = next(e for e in outcome.errors if e is not None)
        if outcome.unexpected is not None:
            LOGGER.error(
                "Power webhook %s: %d request(s) not stored, unexpected error",
                self._title,
                len(refused),
                exc_info=outcome.unexpected,
            )
            error = StoreUnavailableError("unexpected error, see the log")
        elif not self._readings_failing:
            LOGGER.warning(
                "Power webhook %s: readings not stored, answering 503 until the store works: %s",
                self._title,
                error,
            )
        self._readings_failing = True
        for request in refused:
            if not request.future.done():
                request.future.set_exception(error)

    async def async_wait_drained(self) -> None:
        """Wait until every queued request and window has had its round."""
        self.start_round(retry_windows=True)
        while (self._round_running or self._pending) and not self._closed:
            if not self._round_running:  # a round held back by ROUND_INTERVAL: go now
                self.start_round(retry_windows=True)
            await self._idle.wait()

    @callback
    def _windows_done(self, windows: WindowBatch, outcome: _Outcome) -> None:
        if outcome.windows_written:
            self._coordinator.windows_stored(windows)
            if self._windows_failing:
                self._windows_failing = False
                LOGGER.info("Power webhook %s: windows stored again", self._title)
            return
        error = outcome.window_error
        if isinstance(error, InvalidRecordError) or (
            error is not None and not isinstance(error, StoreError)
        ):
            # retrying cannot help, and would hold back every later window: drop them
            LOGGER.error(
                "Power webhook %s: %d window(s) dropped: %s",
                self._title,
                len(windows),
                error,
                exc_info=None if isinstance(error, StoreError) else error,
            )
            return
        if error is not None and not self._windows_failing:
            self._windows_failing = True
            LOGGER.warning("Power webhook %s: windows not stored, retrying: %s", self._title, error)
        # kept until stored (a long outage's gap windows are lazy runs); only 30-s windows the
        # store would purge anyway are dropped
        windows.extend(self.windows)
        self.windows = keep_recent(windows, time.time())
        self._hold_windows = True
