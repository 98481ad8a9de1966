"""The writer thread: jobs in order, in one thread, errors contained, a clean stop."""

from __future__ import annotations

from functools import partial
import logging
import threading

import pytest

from custom_components.meterit.metering import SerialWorker


def test_jobs_run_in_order_in_one_named_thread() -> None:
    worker = SerialWorker("meterit test writer")
    assert not worker.running  # no thread before the first job
    seen: list[tuple[int, str]] = []

    def job(index: int) -> None:
        seen.append((index, threading.current_thread().name))

    for index in range(50):
        worker.submit(partial(job, index))
    worker.stop()
    assert worker.join(5)
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"meterit test writer"}
    assert threading.current_thread().name != "meterit test writer"


def test_a_failing_job_is_logged_and_the_next_ones_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = SerialWorker("meterit test writer")
    done = threading.Event()

    def boom() -> None:
        raise ValueError("job bug")

    worker.submit(boom)
    worker.submit(done.set)
    assert done.wait(5)
    worker.stop()
    assert worker.join(5)
    assert "meterit test writer: a job failed" in caplog.text
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


def test_stop_runs_what_is_queued_then_refuses_new_jobs() -> None:
    worker = SerialWorker("meterit test writer")
    gate = threading.Event()
    seen: list[int] = []
    worker.submit(lambda: gate.wait(5))
    worker.submit(lambda: seen.append(1))
    worker.stop()  # does not wait
    alive_after_stop = worker.running
    gate.set()
    assert worker.join(5)
    assert alive_after_stop
    assert seen == [1]
    assert not worker.running
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(lambda: None)


def test_stop_before_any_job() -> None:
    worker = SerialWorker("meterit test writer")
    worker.stop()
    assert worker.join(0)
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(lambda: None)
