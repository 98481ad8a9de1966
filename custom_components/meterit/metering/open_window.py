"""A window while it is open: the time-weighted sums, the maximum and the counters so far."""

from __future__ import annotations

from .errors import InvalidSnapshotError
from .models import JsonValue, Reading, Window
from .snapshot_json import (
    as_bool,
    as_int,
    as_list,
    as_num,
    as_nums,
    as_obj,
    as_opt_num,
    as_opt_nums,
    reading_from_json,
    reading_to_json,
)


class OpenWindow:
    """The accumulating state of one open window."""

    __slots__ = (
        "count",
        "end",
        "has_exp",
        "has_imp",
        "last",
        "m0",
        "m1",
        "m2",
        "m3",
        "mn",
        "n0",
        "n1",
        "n2",
        "n3",
        "s0",
        "s1",
        "s2",
        "s3",
        "start",
        "wh_exp",
        "wh_imp",
    )

    def __init__(self, start: float, end: float, last: Reading) -> None:
        self.start = start
        self.end = end
        self.count = 0
        self.last = last
        self.s0 = self.s1 = self.s2 = self.s3 = 0.0
        self.n0 = self.n1 = self.n2 = self.n3 = 0.0
        self.m0: float | None = None
        self.m1: float | None = None
        self.m2: float | None = None
        self.m3: float | None = None
        self.mn: float | None = None
        self.wh_imp = 0
        self.wh_exp = 0
        self.has_imp = False
        self.has_exp = False

    def settle(self, r: Reading, weight: float) -> None:
        """Add the now known weight of reading ``r`` (the window's last reading)."""
        v = r.w
        if v is not None:
            self.s0 += v * weight
            self.n0 += weight
        v = r.l1_w
        if v is not None:
            self.s1 += v * weight
            self.n1 += weight
        v = r.l2_w
        if v is not None:
            self.s2 += v * weight
            self.n2 += weight
        v = r.l3_w
        if v is not None:
            self.s3 += v * weight
            self.n3 += weight

    def record(self, r: Reading) -> None:
        """Count reading ``r`` in this window (its weight comes later)."""
        self.count += 1
        self.last = r
        v = r.w
        if v is not None:
            m = self.m0
            if m is None or v > m:
                self.m0 = v
            m = self.mn
            if m is None or v < m:
                self.mn = v
        v = r.l1_w
        if v is not None and (self.m1 is None or v > self.m1):
            self.m1 = v
        v = r.l2_w
        if v is not None and (self.m2 is None or v > self.m2):
            self.m2 = v
        v = r.l3_w
        if v is not None and (self.m3 is None or v > self.m3):
            self.m3 = v
        if r.import_kwh is not None:
            self.has_imp = True
        if r.export_kwh is not None:
            self.has_exp = True

    def close(self, series: str, resolution: int) -> Window:
        """Build the finished window."""
        last = self.last
        n0 = self.n0
        return Window(
            series,
            resolution,
            self.start,
            self.end,
            last.tariff,
            last.import_kwh,
            last.import_t1_kwh,
            last.import_t2_kwh,
            last.export_kwh,
            last.w,
            last.l1_w,
            last.l2_w,
            last.l3_w,
            last.l1_v,
            last.l2_v,
            last.l3_v,
            self.s0 / n0 if n0 else None,
            self.s1 / self.n1 if self.n1 else None,
            self.s2 / self.n2 if self.n2 else None,
            self.s3 / self.n3 if self.n3 else None,
            self.m0,
            self.m1,
            self.m2,
            self.m3,
            self.mn,
            self.count,
            self.wh_imp / 1000.0 if self.has_imp else None,
            self.wh_exp / 1000.0 if self.has_exp else None,
            self.s0 / 3_600_000.0 if n0 else None,
        )

    def to_json(self) -> dict[str, JsonValue]:
        """Serialise (for snapshots)."""
        return {
            "start": self.start,
            "count": self.count,
            "last": reading_to_json(self.last),
            "sums": [self.s0, self.s1, self.s2, self.s3],
            "weights": [self.n0, self.n1, self.n2, self.n3],
            "maxima": [self.m0, self.m1, self.m2, self.m3],
            "minimum": self.mn,
            "wh": [self.wh_imp, self.wh_exp],
            "has": [self.has_imp, self.has_exp],
        }

    @classmethod
    def from_json(cls, data: JsonValue, resolution: int, where: str) -> OpenWindow:
        """Restore from :meth:`to_json` output, validating every field."""
        obj = as_obj(data, where)
        start = as_num(obj.get("start"), f"{where}.start")
        if start % resolution:
            raise InvalidSnapshotError(f"snapshot field {where}.start: not aligned to {resolution}")
        acc = cls(start, start + resolution, reading_from_json(obj.get("last"), f"{where}.last"))
        acc.count = as_int(obj.get("count"), f"{where}.count")
        acc.s0, acc.s1, acc.s2, acc.s3 = as_nums(obj.get("sums"), 4, f"{where}.sums")
        acc.n0, acc.n1, acc.n2, acc.n3 = as_nums(obj.get("weights"), 4, f"{where}.weights")
        acc.m0, acc.m1, acc.m2, acc.m3 = as_opt_nums(obj.get("maxima"), 4, f"{where}.maxima")
        acc.mn = as_opt_num(obj.get("minimum"), f"{where}.minimum")
        wh = as_list(obj.get("wh"), 2, f"{where}.wh")
        acc.wh_imp = as_int(wh[0], f"{where}.wh[0]")
        acc.wh_exp = as_int(wh[1], f"{where}.wh[1]")
        has = as_list(obj.get("has"), 2, f"{where}.has")
        acc.has_imp = as_bool(has[0], f"{where}.has[0]")
        acc.has_exp = as_bool(has[1], f"{where}.has[1]")
        if acc.count < 1:
            raise InvalidSnapshotError(f"snapshot field {where}.count: must be >= 1")
        if not start <= acc.last.t < acc.end:
            raise InvalidSnapshotError(f"snapshot field {where}.last.t: outside the window")
        return acc
