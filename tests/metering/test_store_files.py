"""MeterStore's database file: WAL, bad or foreign files, unwritable paths, closed, threads."""

from __future__ import annotations

from pathlib import Path
import sqlite3
import threading

import pytest

from custom_components.meterit.metering import MeterStore, StoreCorruptError, StoreUnavailableError
from custom_components.meterit.metering.schema import SCHEMA_VERSION

from .store_common import win


def test_new_file_is_wal_and_current(tmp_path: Path) -> None:
    path = tmp_path / "meterit.db"
    store = MeterStore(str(path))
    try:
        assert store.schema_version == SCHEMA_VERSION == 6
    finally:
        store.close()
    store.close()  # idempotent
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"windows", "state", "meterlog", "prices"} <= tables
    finally:
        conn.close()


def test_not_sqlite_is_corrupt_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "meterit.db"
    content = b"this is not a database at all\n" * 200
    path.write_bytes(content)
    with pytest.raises(StoreCorruptError, match=r"meterit\.db"):
        MeterStore(path)
    assert path.read_bytes() == content
    assert not (tmp_path / "meterit.db-wal").exists()


def test_damaged_sqlite_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "meterit.db"
    store = MeterStore(path)
    store.write_windows([win(float(s)) for s in range(0, 300 * 2000, 300)])
    store.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # scribble over every page but the header
        data[offset + 100 : offset + 400] = b"\xff" * 300
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        MeterStore(path)
    assert path.read_bytes() == bytes(data)


def test_other_programs_database_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreCorruptError, match="another program"):
        MeterStore(path)
    assert path.read_bytes() == before


def test_unwritable_paths(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="directory"):
        MeterStore(tmp_path)
    with pytest.raises(StoreUnavailableError, match="cannot open"):
        MeterStore(tmp_path / "missing" / "dir" / "meterit.db")


def test_readonly_database_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "meterit.db"
    MeterStore(path).close()
    uri = f"{path.as_uri()}?mode=ro"
    # open the real file read-only through the same code path
    original = sqlite3.connect

    def readonly(*args: object, **kwargs: object) -> sqlite3.Connection:
        return original(uri, uri=True, check_same_thread=False, isolation_level=None)

    monkeypatch.setattr(sqlite3, "connect", readonly)
    store = MeterStore(path)  # schema is current: opening only reads
    try:
        with pytest.raises(StoreUnavailableError, match="SQLITE_READONLY"):
            store.write_windows([win(0)])
        assert store.query_windows("p1", 300, 0, 1e9) == []
    finally:
        store.close()


def test_closed_store_raises(tmp_path: Path) -> None:
    store = MeterStore(tmp_path / "x.db")
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.query_windows("p1", 300, 0, 1)


def test_threads_write_concurrently(store: MeterStore) -> None:
    errors: list[BaseException] = []

    def writer(series: str) -> None:
        try:
            for k in range(50):
                store.write_windows([win(k * 300.0, series=series)])
                store.query_windows(series, 300, 0, 1e9)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.series() == ["s0", "s1", "s2", "s3"]
    assert all(len(store.query_windows(f"s{i}", 300, 0, 1e9)) == 50 for i in range(4))
