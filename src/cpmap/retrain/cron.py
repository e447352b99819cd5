"""Cron schedules (``[retraining] schedule = "0 3 * * 0"``): the five standard fields.

Only what is needed to turn a schedule into trigger slots: ``*``, numbers, ranges ``a-b``,
lists ``a,b`` and steps ``*/n`` / ``a-b/n``; day-of-week 0-7 with 0 and 7 both Sunday; when
both day fields are restricted a day matches either (as in Vixie cron). :func:`last_slot` is
the latest scheduled minute at or before a time: the idempotence key of a schedule trigger, so
a worker that wakes late (or twice) runs the slot once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cpmap.errors import InputError

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")


@dataclass(frozen=True)
class Cron:
    text: str
    fields: tuple[frozenset[int], ...]
    dom_any: bool
    dow_any: bool

    def day_matches(self, t: datetime) -> bool:
        _, _, dom, month, dow = self.fields
        if t.month not in month:
            return False
        wd = (t.weekday() + 1) % 7  # cron: 0 = Sunday
        day_ok, wd_ok = t.day in dom, wd in dow or (wd == 0 and 7 in dow)
        if self.dom_any or self.dow_any:
            return day_ok and wd_ok
        return day_ok or wd_ok

    def matches(self, t: datetime) -> bool:
        return (t.minute in self.fields[0] and t.hour in self.fields[1]
                and self.day_matches(t))


def _field(part: str, index: int, text: str) -> frozenset[int]:
    lo, hi = _RANGES[index]
    out: set[int] = set()
    for item in part.split(","):
        rng, _, step_s = item.partition("/")
        try:
            step = int(step_s) if step_s else 1
            a, b = (lo, hi) if rng == "*" else (
                (int(rng.split("-")[0]), int(rng.split("-")[1])) if "-" in rng
                else (int(rng), int(rng) if not step_s else hi))
        except ValueError:
            raise InputError(f"[retraining] schedule {text!r}: {_NAMES[index]} field "
                             f"{part!r} is not cron syntax") from None
        if not (lo <= a <= b <= hi) or step < 1:
            raise InputError(f"[retraining] schedule {text!r}: {_NAMES[index]} {item!r} "
                             f"is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return frozenset(out)


def parse(text: str) -> Cron:
    parts = text.split()
    if len(parts) != 5:
        raise InputError(f"[retraining] schedule {text!r}: needs 5 fields "
                         "(minute hour day-of-month month day-of-week)")
    fields = tuple(_field(p, i, text) for i, p in enumerate(parts))
    return Cron(text, fields, parts[2] == "*", parts[4] == "*")


def last_slot(cron: Cron, now: datetime, horizon_days: int = 366) -> datetime | None:
    """The latest minute at or before ``now`` the schedule names (None within the horizon)."""
    t = now.replace(second=0, microsecond=0)
    end = t - timedelta(days=horizon_days)
    while t > end:
        if not cron.day_matches(t):
            t = t.replace(hour=0, minute=0) - timedelta(minutes=1)
        elif t.hour not in cron.fields[1]:
            t = t.replace(minute=0) - timedelta(minutes=1)
        elif t.minute in cron.fields[0]:
            return t
        else:
            t -= timedelta(minutes=1)
    return None

