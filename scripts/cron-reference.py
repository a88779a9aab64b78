#!/usr/bin/env python3
"""Generate the croniter reference fixture for ScheduleKit's cron tests.

Run from the package root:
    python3 -m venv .venv && .venv/bin/pip install croniter
    .venv/bin/python scripts/cron-reference.py

With a fixed seed it generates random valid cron expressions (5- and 6-field, names, ranges,
steps, lists, L, #) over the zones in ZONES, a random start instant in 2020-2035 for each,
and asks croniter (with zoneinfo) for the next FIRES fire instants. It writes JSON lines to
Tests/ScheduleKitTests/Resources/cron-reference.jsonl:

    {"meta": {...}}                                   first line: versions, seed, zones
    {"e": "0 6 * * MON-FRI", "z": "Europe/Berlin", "s": 1767225600, "f": [d1, d2, ...]}

where f holds the fires as deltas (first fire - start, then fire[i] - fire[i-1]), in seconds.

A case carries "x": <reason> when croniter is expected to disagree with our rules, so the
Swift test counts it instead of comparing it:
  "dst"      a UTC-offset change between start and the last fire has a matching local time
             inside its gap or repeated span (our gap/first-occurrence rules apply there);
  "nth-dom"  '#' with a restricted day-of-month: croniter ignores day-of-month then, we OR it;
  "collapse" a day field that lists every value without being '*' (e.g. 1-31): croniter
             treats it as '*' (AND), we treat it as restricted (OR), as Vixie cron does.
"""

import importlib.metadata
import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import croniter

SEED = 20260601
CASES = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 12_000
FIRES = 5
START_MIN = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())
START_MAX = int(datetime(2036, 1, 1, tzinfo=timezone.utc).timestamp())
SCAN_END = datetime(2042, 1, 1, tzinfo=timezone.utc)

# DST zones (incl. 30-minute Lord Howe, midnight-transition Santiago and Havana, negative-DST
# Dublin, +12:45/+13:45 Chatham), fixed half-hour and 45-minute offsets, and plain ones.
ZONES = [
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/St_Johns",       # -03:30 / -02:30
    "America/Havana",         # transitions at midnight
    "America/Santiago",       # southern hemisphere, transitions at midnight
    "Europe/London",
    "Europe/Berlin",
    "Europe/Dublin",          # negative DST in tzdata
    "Europe/Athens",
    "Australia/Sydney",
    "Australia/Adelaide",     # +09:30 / +10:30
    "Australia/Lord_Howe",    # +10:30 / +11:00, 30-minute DST
    "Pacific/Auckland",
    "Pacific/Chatham",        # +12:45 / +13:45
    "Asia/Kolkata",           # +05:30
    "Asia/Kathmandu",         # +05:45
    "Australia/Eucla",        # +08:45
    "Asia/Kabul",             # +04:30
    "Asia/Yangon",            # +06:30
    "Pacific/Marquesas",      # -09:30
    "Asia/Tokyo",
    "Pacific/Kiritimati",     # +14:00
]

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


def random_case(rng: random.Random, name: str) -> str:
    return name if rng.random() < 0.6 else (name.lower() if rng.random() < 0.5 else name.capitalize())


def value_text(rng, value, names, low):
    if names and rng.random() < 0.5:
        return random_case(rng, names[value - low])
    return str(value)


def gen_field(rng, low, high, names=None, star_weight=0.3):
    """One field: *, value, range, steps, or a list of those. Never an equal or wrapping range."""
    def atom():
        kind = rng.random()
        if kind < 0.45:
            return value_text(rng, rng.randint(low, high), names, low)
        if kind < 0.7:
            a = rng.randint(low, high - 1)
            b = rng.randint(a + 1, high)
            return f"{value_text(rng, a, names, low)}-{value_text(rng, b, names, low)}"
        if kind < 0.85:
            a = rng.randint(low, high - 1)
            b = rng.randint(a + 1, high)
            step = rng.randint(2, max(2, (b - a)))
            return f"{value_text(rng, a, names, low)}-{value_text(rng, b, names, low)}/{step}"
        step = rng.randint(2, max(2, (high - low) // 2))
        if rng.random() < 0.5:
            return f"{value_text(rng, rng.randint(low, high), names, low)}/{step}"
        return f"*/{step}"

    if rng.random() < star_weight:
        return "*"
    count = 1 if rng.random() < 0.7 else rng.randint(2, 3)
    return ",".join(atom() for _ in range(count))


def gen_expression(rng: random.Random) -> tuple[str, bool]:
    six = rng.random() < 0.3
    second = gen_field(rng, 0, 59, star_weight=0.05) if six else None
    minute = gen_field(rng, 0, 59, star_weight=0.1)
    hour = gen_field(rng, 0, 23, star_weight=0.15)
    dom_roll = rng.random()
    if dom_roll < 0.55:
        dom = "*" if rng.random() < 0.9 else "?"
    elif dom_roll < 0.65:
        dom = random_case(rng, "L") if rng.random() < 0.7 else f"{rng.randint(1, 15)},L"
    else:
        dom = gen_field(rng, 1, 31, star_weight=0.0)
    month = gen_field(rng, 1, 12, MONTHS, star_weight=0.6)
    dow_roll = rng.random()
    if dom == "?":
        dow = gen_field(rng, 0, 6, DAYS, star_weight=0.0)
    elif dow_roll < 0.55:
        dow = "*" if rng.random() < 0.9 else "?"
    elif dow_roll < 0.7:
        day = rng.randint(0, 7) if rng.random() < 0.5 else random_case(rng, DAYS[rng.randint(0, 6)])
        dow = f"{day}#{rng.randint(1, 5)}"
    else:
        dow = gen_field(rng, 0, 6, DAYS, star_weight=0.0)
        if dow == "0" and rng.random() < 0.5:
            dow = "7"
    fields = [minute, hour, dom, month, dow]
    if six:
        fields.insert(0, second)
    return " ".join(fields), six


def zone_transitions(name: str):
    """Every UTC-offset change of the zone in [2019, 2042): (instant, offset before, offset after)."""
    zone = ZoneInfo(name)
    result = []
    t = datetime(2019, 1, 1, tzinfo=timezone.utc)
    step = timedelta(hours=1)
    previous = t.astimezone(zone).utcoffset()
    while t < SCAN_END:
        nxt = t + step
        offset = nxt.astimezone(zone).utcoffset()
        if offset != previous:
            lo, hi = int(t.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, zone).utcoffset() == previous:
                    lo = mid
                else:
                    hi = mid
            result.append((hi, int(previous.total_seconds()), int(offset.total_seconds())))
            previous = offset
        t = nxt
    return result


def naive(seconds: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def matches_in_local_window(expr: str, six: bool, start_local: int, end_local: int) -> bool:
    """Whether the expression names a local time in [start_local, end_local), zone-free."""
    it = croniter(expr, naive(start_local - 1), second_at_beginning=six)
    return it.get_next(datetime) < naive(end_local)


def exclusion(expr, six, start, fires, transitions):
    fields = expr.split()
    if six:
        fields = fields[1:]
    dom_text, dow_text = fields[2], fields[4]
    dom_wild = dom_text in ("*", "?")
    dow_wild = dow_text in ("*", "?")
    if "#" in dow_text and not dom_wild:
        return "nth-dom"
    # croniter.expand keeps minute..day-of-week at indexes 0-4 (seconds, if any, move last).
    exp = croniter.expand(expr, second_at_beginning=six)[0]
    dom_exp, dow_exp = exp[2], exp[4]
    if (dom_exp == ["*"] and not dom_wild) or (dow_exp == ["*"] and not dow_wild):
        return "collapse"
    window_start = start - 3 * 86400
    for instant, before, after in transitions:
        if instant <= window_start:
            continue
        if instant > fires[-1]:
            break
        low, high = instant + min(before, after), instant + max(before, after)
        if matches_in_local_window(expr, six, low, high):
            return "dst"
    return None


def main() -> int:
    rng = random.Random(SEED)
    root = Path(__file__).resolve().parent.parent
    out_path = root / "Tests" / "ScheduleKitTests" / "Resources" / "cron-reference.jsonl"
    transitions = {zone: zone_transitions(zone) for zone in ZONES}
    lines = []
    counts = {
        "dst": 0, "nth-dom": 0, "collapse": 0, "compared": 0,
        "compared-crossing-offset-change": 0, "croniter-error": 0,
    }
    while len(lines) < CASES:
        expr, six = gen_expression(rng)
        zone_name = rng.choice(ZONES)
        start = rng.randint(START_MIN, START_MAX)
        # A third of the cases start shortly before one of the zone's offset changes, so
        # crossing transitions is well covered.
        nearby = [t for t, _, _ in transitions[zone_name] if START_MIN <= t <= START_MAX]
        if nearby and rng.random() < 0.35:
            start = rng.choice(nearby) - rng.randint(0, 3 * 86400)
        zone = ZoneInfo(zone_name)
        try:
            it = croniter(expr, datetime.fromtimestamp(start, zone), second_at_beginning=six)
            fires = [int(it.get_next(float)) for _ in range(FIRES)]
        except Exception as error:  # croniter rejects or cannot find a date: not a usable case
            counts["croniter-error"] += 1
            if "-v" in sys.argv:
                print("croniter error:", expr, type(error).__name__, error)
            continue
        if fires[-1] >= int(SCAN_END.timestamp()):
            continue
        reason = exclusion(expr, six, start, fires, transitions[zone_name])
        deltas = [fires[0] - start] + [b - a for a, b in zip(fires, fires[1:])]
        record = {"e": expr, "z": zone_name, "s": start, "f": deltas}
        if reason:
            record["x"] = reason
            counts[reason] += 1
        else:
            counts["compared"] += 1
            if any(start < t <= fires[-1] for t, _, _ in transitions[zone_name]):
                counts["compared-crossing-offset-change"] += 1
        lines.append(json.dumps(record, separators=(",", ":")))
    meta = {
        "meta": {
            "croniter": importlib.metadata.version("croniter"),
            "python": sys.version.split()[0],
            "seed": SEED,
            "cases": CASES,
            "fires": FIRES,
            "zones": ZONES,
            "counts": counts,
            "options": "croniter(expr, aware start, second_at_beginning=six); get_next(float)",
        }
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(meta, separators=(",", ":")) + "\n" + "\n".join(lines) + "\n")
    print(json.dumps(meta["meta"]["counts"]), out_path.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
