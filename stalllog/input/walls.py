"""Wall-clock stamps of line prefixes (`dmesg -T`, syslog, ISO) to datetimes: the line stage
parses each distinct second once; a stamp that is no valid date gives None."""

from __future__ import annotations

import re
from datetime import datetime

MONTHS = {
    m: i + 1
    for names in (
        "jan feb mar apr may jun jul aug sep oct nov dec",
        "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
        "jän feb mär apr mai jun jul aug sep okt nov dez",
        "ene feb mar abr may jun jul ago sep oct nov dic",
        "gen feb mar apr mag giu lug ago set ott nov dic",
        "jan fev mar abr mai jun jul ago set out nov dez",
        "янв фев мар апр мая июн июл авг сен окт ноя дек",
        "sty lut mar kwi maj cze lip sie wrz paź lis gru",
    )
    for i, m in enumerate(names.split())
}
MONTHS.update(
    {
        "janvier": 1, "février": 2, "avril": 4, "juillet": 7, "septembre": 9,
        "octobre": 10, "novembre": 11, "décembre": 12, "januar": 1, "februar": 2,
        "märz": 3, "juni": 6, "juli": 7, "oktober": 10, "dezember": 12,
    }
)  # fmt: skip
CTIME_RE = re.compile(r"(\d{1,2}):(\d\d):(\d\d) (\d{4})")


def wall_from_ctime(s: str) -> datetime | None:
    """`Thu Oct 20 08:08:41 2016`, or localized (`dim. 19 avril 18:03:30 2026`)."""
    m = CTIME_RE.search(s)
    if not m:
        return None
    words = s[: m.start()].lower().replace(",", " ").split()
    month = day = None
    for w in words:
        if w.isdecimal():  # not `²`: isdigit() but no int()
            day = int(w)
        elif w in MONTHS or w.rstrip(".") in MONTHS:
            month = MONTHS.get(w) or MONTHS[w.rstrip(".")]
    if month is None or day is None:
        return None
    try:
        return datetime(int(m[4]), month, day, int(m[1]), int(m[2]), int(m[3]))
    except (ValueError, OverflowError):  # day `99999999999999999999`: no date
        return None


def wall_from_iso(s: str) -> datetime | None:
    try:
        return datetime.strptime(s[:19].replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


def wall_from_syslog(s: str) -> datetime | None:
    # RFC 3164 has no year: 1900 stands for "unknown year" (documented in docs/tables.md)
    try:
        return datetime.strptime("1900 " + s, "%Y %b %d %H:%M:%S")
    except ValueError:
        return None
