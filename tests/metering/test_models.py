"""Reading validation and Window helpers."""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from custom_components.meterit.metering import InvalidReadingError, Reading, Window

FULL = (1.0, 543, 410, 133, 0, 230.1, 229.8, 231.0, 13779.338, 10830.511, 2948.827, 4162.461, 2)


def test_webhook_reading_has_only_t_and_w() -> None:
    r = Reading(t=10.0, w=123.4)
    assert r.import_kwh is None
    assert r.tariff is None
    assert r.w == 123.4


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"t": float("nan")}, "'t'"),
        ({"t": float("inf")}, "'t'"),
        ({"t": "12"}, "'t'"),
        ({"t": True}, "'t'"),
        ({"t": 1.0, "w": float("nan")}, "'w'"),
        ({"t": 1.0, "l3_v": "230"}, "'l3_v'"),
        ({"t": 1.0, "import_kwh": float("-inf")}, "'import_kwh'"),
        ({"t": 1.0, "export_kwh": 10**400}, "'export_kwh'"),
        ({"t": 1.0, "w": False}, "'w'"),
        ({"t": 1.0, "tariff": 0}, "'tariff'"),
        ({"t": 1.0, "tariff": 5}, "'tariff'"),
        ({"t": 1.0, "tariff": True}, "'tariff'"),
        ({"t": 1.0, "tariff": 1.0}, "'tariff'"),
    ],
)
def test_bad_reading_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidReadingError, match=field) as info:
        Reading(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_reading_init_is_the_dataclass_one() -> None:
    """The written-out __init__ keeps what the generated one of the frozen dataclass did."""
    names = [f.name for f in dataclasses.fields(Reading)]
    params = list(inspect.signature(Reading).parameters.values())
    assert [p.name for p in params] == names
    assert all(p.default is None for p in params[1:])
    assert params[0].default is inspect.Parameter.empty
    r = Reading(*FULL)
    assert tuple(getattr(r, name) for name in names) == FULL
    assert r == Reading(**dict(zip(names, FULL, strict=True)))  # type: ignore[arg-type]
    assert hash(r) == hash(Reading(*FULL))
    assert r != Reading(*FULL[:-1])
    assert repr(r).startswith("Reading(t=1.0, w=543, l1_w=410,")
    assert Reading.__match_args__ == tuple(names)
    assert pickle.loads(pickle.dumps(r)) == r  # noqa: S301 (our own bytes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.w = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Reading()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Reading(*FULL, 3)  # type: ignore[call-arg]


def test_replace_checks_the_new_reading() -> None:
    r = Reading(*FULL)
    assert dataclasses.replace(r, w=12.5).w == 12.5
    assert dataclasses.replace(r, w=12.5).l3_v == 231.0
    with pytest.raises(InvalidReadingError, match="'l2_w'"):
        dataclasses.replace(r, l2_w=float("nan"))


def test_int_values_are_accepted() -> None:
    r = Reading(t=5, w=-300, import_kwh=12, tariff=4)
    assert r.w == -300
    assert r.tariff == 4


def test_window_helpers() -> None:
    real = Window("p1", 300, 0.0, 300.0, reading_count=3)
    gap = Window("p1", 300, 300.0, 600.0)
    assert not real.synthetic
    assert gap.synthetic
    assert real.key == ("p1", 300, 0.0)
