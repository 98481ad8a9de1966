"""Reading an aggregator's saved state back: each value checked, each error naming where."""

from __future__ import annotations

from collections.abc import Mapping
from math import isfinite

from .errors import InvalidSnapshotError
from .models import JsonValue, Reading

READING_KEYS = tuple(
    (name, kind)
    for name, kind in (
        ("t", "f"),
        ("w", "o"),
        ("l1_w", "o"),
        ("l2_w", "o"),
        ("l3_w", "o"),
        ("l1_v", "o"),
        ("l2_v", "o"),
        ("l3_v", "o"),
        ("import_kwh", "o"),
        ("import_t1_kwh", "o"),
        ("import_t2_kwh", "o"),
        ("export_kwh", "o"),
        ("tariff", "i"),
    )
)
"""A reading's fields in a snapshot, by kind: ``f`` a number, ``o`` a number or None, ``i`` an
integer or None."""


def reading_to_json(r: Reading) -> dict[str, JsonValue]:
    """A reading as its snapshot holds it."""
    return {name: getattr(r, name) for name, _ in READING_KEYS}


def reading_from_json(data: JsonValue, where: str) -> Reading:
    """A reading back from its snapshot (every field checked)."""
    obj = as_obj(data, where)
    values: dict[str, float | int | None] = {}
    for name, kind in READING_KEYS:
        raw = obj.get(name)
        if kind == "f":
            values[name] = as_num(raw, f"{where}.{name}")
        elif kind == "i":
            values[name] = as_opt_int(raw, f"{where}.{name}")
        else:
            values[name] = as_opt_num(raw, f"{where}.{name}")
    try:
        return Reading(**values)  # type: ignore[arg-type]
    except ValueError as err:
        raise InvalidSnapshotError(f"snapshot field {where}: {err}") from None


def as_obj(data: JsonValue | Mapping[str, JsonValue], where: str) -> Mapping[str, JsonValue]:
    """``data`` as an object. Raises ``InvalidSnapshotError`` naming ``where``."""
    if not isinstance(data, Mapping):
        raise InvalidSnapshotError(f"snapshot field {where}: must be an object")
    return data


def as_list(data: JsonValue, length: int, where: str) -> list[JsonValue]:
    """``data`` as a list of ``length`` values. Raises ``InvalidSnapshotError`` naming ``where``."""
    if not isinstance(data, list) or len(data) != length:
        raise InvalidSnapshotError(f"snapshot field {where}: must be a list of {length}")
    return data


def as_num(data: JsonValue, where: str) -> float:
    """``data`` as a finite number. Raises ``InvalidSnapshotError`` naming ``where``."""
    if isinstance(data, bool) or not isinstance(data, (int, float)) or not isfinite(data):
        raise InvalidSnapshotError(f"snapshot field {where}: must be a finite number")
    return float(data)


def as_opt_num(data: JsonValue, where: str) -> float | None:
    """``data`` as a finite number or None. Raises ``InvalidSnapshotError`` naming ``where``."""
    return None if data is None else as_num(data, where)


def as_nums(data: JsonValue, length: int, where: str) -> list[float]:
    """``data`` as ``length`` finite numbers. Raises ``InvalidSnapshotError`` naming ``where``."""
    return [as_num(v, f"{where}[{i}]") for i, v in enumerate(as_list(data, length, where))]


def as_opt_nums(data: JsonValue, length: int, where: str) -> list[float | None]:
    """``data`` as ``length`` finite numbers or Nones. Raises ``InvalidSnapshotError`` naming ``where``."""
    return [as_opt_num(v, f"{where}[{i}]") for i, v in enumerate(as_list(data, length, where))]


def as_int(data: JsonValue, where: str) -> int:
    """``data`` as an integer (not a bool). Raises ``InvalidSnapshotError`` naming ``where``."""
    if isinstance(data, bool) or not isinstance(data, int):
        raise InvalidSnapshotError(f"snapshot field {where}: must be an integer")
    return data


def as_opt_int(data: JsonValue, where: str) -> int | None:
    """``data`` as an integer or None. Raises ``InvalidSnapshotError`` naming ``where``."""
    return None if data is None else as_int(data, where)


def as_bool(data: JsonValue, where: str) -> bool:
    """``data`` as true or false. Raises ``InvalidSnapshotError`` naming ``where``."""
    if not isinstance(data, bool):
        raise InvalidSnapshotError(f"snapshot field {where}: must be true or false")
    return data
