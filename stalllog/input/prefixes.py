"""The line-prefix grammar: what transports and printk put in front of a kernel message.

Prefixes are detected per line (real files mix kinds: a syslog file carries both
`kernel: [ 1.2] x` and journald-forwarded `kernel: x`), never per file. Order of parts,
outermost first (see ../shared/FORMATS-memory.md §5 and FORMATS-stalls.md §0):

  [console drop marker] [transport wrapper] [dmesg -x facility:level] [<N>] [[ts]] [[caller]] " "

Speed: one RE2 pattern holding every wrapper costs ~8 µs a line (RE2 falls back to its slow
submatch engines on a big program), far too slow for the line stage. So lines are first sorted
by their first bytes (numpy, in lines.py) into classes, and each class runs a small pattern
holding only the wrappers that can start with those bytes. All parts are optional: a line of a
class that matches nothing has an empty prefix (kind "none").
"""

from __future__ import annotations

_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# a syslog tag: `kernel`, `kernel[123]`, `systemd[1]`, `CRON[12]`
_IDENT = r"[^\s:\[\]]+(?:\[\d+\])?"

# printk time `[%5lu.%06lu]` and CONFIG_PRINTK_CALLER id `[%6s]` (T<pid> / C<cpu>, 5.1+, commit
# 15ff2069cb7f "printk: Add caller information to printk() output."); printk puts exactly one
# space after them (info_print_prefix), kept optional because pasted logs lose it.
_TIME = r"\[ *(?P<ts>\d+\.\d+)\](?:\[ *(?P<caller>[TC]\d+)\])? ?|\[ *(?P<caller2>[TC]\d+)\] ?"
# syslog(2) / `dmesg -r` / pre-3.5 ring buffer `<N>` (facility << 3 | level)
KERNEL = r"(?:<(?P<lvl>\d{1,3})>)?(?:" + _TIME + r")?"
# util-linux `dmesg -x`: `kern  :warn  : `
_XFAC = (
    r"(?:(?P<xfac>kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|"
    r"local[0-7]) *:(?P<xlvl>emerg|alert|crit|err|warn|notice|info|debug) *: )?"
)
# After a collector's wall-clock stamp: either a syslog `host tag: ` header, or (netconsole
# received by rsyslog, osstest's serial logger `Jul 21 16:20:58.985209 [  530.412043] x`) an
# optional host and then the kernel's own time stamp, which is required so that a plain line
# is not mistaken for one.
_AFTER_STAMP = (
    r"(?:(?P<host>\S+) (?P<ident>" + _IDENT + r"): "
    r"|(?:(?P<shost>[^\s\[]\S*) )?\[ *(?P<sts>\d+\.\d+)\](?:\[ *(?P<scaller>[TC]\d+)\])? ?)"
)

# Lines starting with `[` + space/digit (or `[T123456]`), by far the most common, so split
# into patterns RE2 runs fast (an optional caller group alone triples the cost): the printk
# time alone, time + caller, caller alone, and journalctl -o short-monotonic
# `[ 1234.567890] host kernel: ` (the tag must look like a syslog tag, else
# `[ 1.2] EXT4-fs (sda1): x` would match).
BRACKET_TIME = r"^(?P<prefix>\[ *(?P<ts>\d+\.\d+)\] ?)"
BRACKET_CALLER = r"^(?P<prefix>\[ *(?P<ts>\d+\.\d+)\]\[ *(?P<caller>[TC]\d+)\] ?)"
BRACKET_CALLER_ONLY = r"^(?P<prefix>\[ *(?P<caller2>[TC]\d+)\] ?)"
BRACKET_MONO_TEST = r"^\[ *\d+\.\d+\] [^\s:\[\]]+ (?:kernel|[\w.-]+\[\d+\]): "
# A host name has no `:`: `[ 0.04] x86/fpu: xstate_offset[2]:  576` is a kernel line.
BRACKET_MONO = (
    r"^(?P<prefix>\[ *(?P<mono>\d+\.\d+)\] (?P<monohost>[^\s:\[\]]+) "
    r"(?P<monoident>kernel|[\w.-]+\[\d+\]): )"
)

# The common journalctl/syslog line, header only (few groups: RE2 is several times faster);
# lines it does not fit, or followed by a kernel `[ts]`/`<N>`, get the full MONTH pattern.
# The wall clock comes from the first 15 characters (`Oct  6 03:12:41`).
SYSLOG_FAST = (
    r"^(?P<prefix>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? (?P<host>\S+) "
    r"(?P<ident>" + _IDENT + r"): )"
)

SYSLOG_KERNEL_TEST = (
    r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ " + _IDENT + r": "
    r"(?:<\d{1,3}>|\[ *(?:\d+\.\d+|[TC]\d+)\])"
)

# Lines starting with a month name: RFC 3164 syslog and journalctl -o short / short-precise
# (`Oct 20 08:08:41[.123456] host kernel: `), or a collector stamp (see _AFTER_STAMP).
MONTH = (
    r"^(?P<prefix>(?P<mon>" + _MON + r") +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)"
    r"(?P<frac>\.\d{1,9})? " + _AFTER_STAMP + KERNEL + r")"
)

# Lines starting with a digit: /dev/kmsg records `prio,seq,usec,flag[,caller=T1][,...];`
# (3.5+; caller= since 5.1), `dmesg --time-format iso` (`2016-10-20T08:08:41,123456+02:00 `:
# comma before the microseconds), RFC 3339 syslog / journalctl -o short-iso[-precise].
DIGIT = (
    r"^(?P<prefix>(?P<kprio>\d{1,4}),(?P<kseq>\d+),(?P<kusec>\d+),(?P<kflag>[^,;\s]*)"
    r"(?:,caller=(?P<kcaller>[TC]\d+))?(?:,[^;\s]*)*;"
    r"|(?:(?P<dmiso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?P<dmisofrac>,\d+)(?P<dmisotz>[+-]\d\d:?\d\d) "
    r"|(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?P<isofrac>[.,]\d{1,9})?"
    r"(?P<isotz>Z|[+-]\d\d:?\d\d)? " + _AFTER_STAMP + r")" + _XFAC + KERNEL + r")"
)

# /dev/kmsg records alone (the DIGIT pattern costs five times more); the caller= variant only
# when the chunk has one.
KMSG_TEST = r"^\d{1,4},\d+,\d+,[^;\s]*;"
KMSG = r"^(?P<prefix>(?P<kprio>\d{1,4}),(?P<kseq>\d+),(?P<kusec>\d+),[^;\s]*;)"
KMSG_CALLER = (
    r"^(?P<prefix>(?P<kprio>\d{1,4}),(?P<kseq>\d+),(?P<kusec>\d+),[^,;\s]*"
    r"(?:,caller=(?P<kcaller>[TC]\d+))?(?:,[^;\s]*)*;)"
)

# `dmesg -T` in the C locale (`[Thu Oct 20 08:08:41 2016] `), the common case, without the
# counted repetitions of the localized form in OTHER (five times slower).
CTIME_FAST = (
    r"^(?P<prefix>\[(?P<ctime>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\] )"
)

# Everything else that may carry a prefix: the console drop marker (can be glued in front of
# the next record: FORMATS-stalls §5), `<N>` levels, RFC 5424, journalctl -o short-full,
# `dmesg -T` (ctime, locale-dependent names: `[dim. 19 avril 18:03:30 2026]`), `dmesg -x`.
OTHER = (
    r"^(?P<prefix>(?:\*\* (?P<ndrop>\d+) printk messages dropped \*\* ?)?"
    r"(?:<(?P<pri5424>\d{1,3})>1 (?P<iso5424>\S+) (?P<host5424>\S+) (?P<app5424>\S+) \S+ \S+ "
    r"(?:-|\[[^\]]*\])+ (?:\x{FEFF})?"
    r"|[A-Z][a-z]{2} (?P<full>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?P<fullfrac>\.\d{1,9})? "
    # the zone as strftime's %Z prints it: an abbreviation, or the offset where the zone
    # has none (`-04`, `+0330`)
    r"(?:(?P<fullzone>[A-Z][A-Za-z0-9+-]{0,5}|[+-]\d\d(?:\d\d)?) )?"
    r"(?P<fullhost>\S+) (?P<fullident>" + _IDENT + r"): "
    r"|\[(?P<ctime>[^\[\]\d]{0,20}\d[^\[\]]{0,30}\d\d:\d\d:\d\d \d{4})\] "
    r")?" + _XFAC + KERNEL + r")"
)

# Bit values for prefix_kind; the kind name joins the parts present with "+".
KIND_PARTS: tuple[str, ...] = (
    "dropped",
    "rfc5424",
    "syslog",
    "syslog_iso",
    "journal_full",
    "journal_mono",
    "kmsg",
    "dmesg_ctime",
    "dmesg_iso",
    "dmesg_x",
    "level",
    "time",
    "caller",
)

# Structured inputs (structured.py): the kind of each row, and flags of their rows that
# carry no message (JSON syntax, export fields other than MESSAGE) or could not be read.
STRUCTURED: tuple[str, ...] = ("journal_json", "journal_export", "dmesg_json")
STRUCTURED_FLAGS: tuple[str, ...] = ("structured", "bad-record")
# "cont": a continuation line of a multi-line record, indented by the width of its first
# line's prefix (util-linux dmesg, `dmesg -T`, journalctl); it takes that line's ts/wall/host.
KIND_BIT = {n: 1 << i for i, n in enumerate((*KIND_PARTS, "kmsg_dict", "cont", *STRUCTURED))}

# group whose presence shows each part
KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "dropped": ("ndrop",),
    "rfc5424": ("pri5424",),
    "syslog": ("mon",),
    "syslog_iso": ("iso",),
    "journal_full": ("full",),
    "journal_mono": ("mono",),
    "kmsg": ("kprio",),
    "dmesg_ctime": ("ctime",),
    "dmesg_iso": ("dmiso",),
    "dmesg_x": ("xfac",),
    "level": ("lvl",),
    "time": ("ts", "sts"),
    "caller": ("caller", "caller2", "scaller", "kcaller"),
}

XLEVELS = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}

# first four bytes that may open a MONTH / OTHER line
MONTH_WORDS = tuple(f"{m} " for m in _MON.split("|"))
WEEKDAY_WORDS = ("Mon ", "Tue ", "Wed ", "Thu ", "Fri ", "Sat ", "Sun ")
XFAC_WORDS = ("kern", "user", "mail", "daem", "auth", "sysl", "lpr ", "news", "uucp", "cron",
              "ftp ", "loca")  # fmt: skip
