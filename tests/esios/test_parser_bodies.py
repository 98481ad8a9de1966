"""Response bodies: zip, gzip, wrong content, garbage, size limits."""

from __future__ import annotations

from datetime import date
import gzip
import io
import json
import zipfile

import pytest

from custom_components.meterit.esios import (
    InvalidPriceDataError,
    Region,
    decode_body,
    parse_public_file,
    parser as parser_module,
)

from .conftest import Loader

# --- bodies: zip, gzip, wrong content, garbage ------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_public_file_bodies(load: Loader) -> None:
    raw = load.raw("PVPC_CURV_DD_2022_03_27.json")
    expected = parse_public_file(raw, region=Region.PENINSULA, day=date(2022, 3, 27))
    bodies = [
        _zip({"readme.txt": b"x", "PVPC_CURV_DD_2022_03_27.json": raw}),
        _zip({"data.bin": raw}),
        gzip.compress(raw),
        b"\xef\xbb\xbf" + raw,
        bytearray(raw),
        memoryview(raw),
    ]
    for body in bodies:
        assert parse_public_file(body, region=Region.PENINSULA, day=date(2022, 3, 27)) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "public file: empty body"),
        (b"  \n", "public file: empty body"),
        (
            b"<html><body>Error</body></html>",
            r"public file: not JSON \(Expecting value at line 1 column 1; starts with '<html><body>Error</body></html>'\)",
        ),
        (b"\xff\xfe\x00garbage", "public file: not UTF-8 text"),
        (b"PK\x03\x04broken", "public file: broken zip archive"),
        (b"\x1f\x8bbroken", "public file: broken gzip data"),
        (b"[" * 100_000 + b"]" * 100_000, "public file: JSON nested too deeply"),
        (b'{"PVPC": ' + b"1" * 5000 + b"}", "public file: not JSON .*4300 digits"),
    ],
)
def test_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPriceDataError, match=message):
        parse_public_file(body, region=Region.PENINSULA, day=date(2022, 3, 27))


def test_empty_zip() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.mkdir("folder")
    with pytest.raises(InvalidPriceDataError, match="zip archive holds no file"):
        decode_body(buffer.getvalue(), "public file")


def test_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parser_module, "MAX_BODY_BYTES", 100)
    big = json.dumps({"PVPC": ["x" * 200]}).encode()
    with pytest.raises(InvalidPriceDataError, match="too large"):
        decode_body(_zip({"a.json": big}), "body")
    with pytest.raises(InvalidPriceDataError, match="gzip data too large"):
        decode_body(gzip.compress(big), "body")
    assert decode_body(_zip({"a.json": b"[1]"}), "body") == [1]
