"""The line-prefix grammar: what transports and printk put in front of a kernel message.

One RE2 pattern (run vectorized by pyarrow over a whole chunk) matches every supported prefix at
the start of a line; all parts are optional, so it always matches (an empty prefix is kind
"none"). Real files mix kinds line by line (syslog files carry both `kernel: [ 1.2] x` and
journald-forwarded `kernel: x`), so nothing is decided per file.

Order of parts, outermost first (see ../shared/FORMATS-memory.md §5 and FORMATS-stalls.md §0):
  [console drop marker] [transport wrapper] [dmesg -x facility:level] [<N>] [[ts]] [[caller]] " "
"""

from __future__ import annotations

_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# a syslog tag: `kernel`, `kernel[123]`, `systemd[1]`, `CRON[12]`
_IDENT = r"[^\s:\[\]]+(?:\[\d+\])?"

PREFIX_PATTERN = (
    r"^(?P<prefix>"
    # Console-only marker, can be glued in front of the next record (FORMATS-stalls §5).
    r"(?:\*\* (?P<ndrop>\d+) printk messages dropped \*\* ?)?"
    r"(?:"
    # RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD
    r"<(?P<pri5424>\d{1,3})>1 (?P<iso5424>\S+) (?P<host5424>\S+) (?P<app5424>\S+) \S+ \S+ "
    r"(?:-|\[[^\]]*\])+ (?:\x{FEFF})?"
    # RFC 3164 syslog, journalctl -o short / short-precise
    r"|(?P<mon>" + _MON + r") +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d{1,9})? "
    r"(?P<host>\S+) (?P<ident>" + _IDENT + r"): "
    # journalctl -o short-iso / short-iso-precise, RFC 3339 syslog (rsyslog default templates)
    r"|(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?P<isofrac>[.,]\d{1,9})?"
    r"(?P<isotz>Z|[+-]\d\d:?\d\d)? (?P<isohost>\S+) (?P<isoident>" + _IDENT + r"): "
    # journalctl -o short-full: `Thu 2016-10-20 08:08:41 CEST host kernel: `
    r"|(?:[A-Z][a-z]{2} )(?P<full>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?P<fullfrac>\.\d{1,9})? "
    r"(?:[A-Z][A-Za-z0-9+-]{0,5} )?(?P<fullhost>\S+) (?P<fullident>" + _IDENT + r"): "
    # journalctl -o short-monotonic: `[ 1234.567890] host kernel: `; the tag must look like a
    # syslog tag, else `[ 1.2] EXT4-fs (sda1): x` from dmesg would match.
    r"|\[ *(?P<mono>\d+\.\d+)\] (?P<monohost>\S+) (?P<monoident>kernel|[\w.-]+\[\d+\]): "
    # /dev/kmsg record: prio,seq,usec,flag[,caller=T1][,more];
    r"|(?P<kprio>\d{1,4}),(?P<kseq>\d+),(?P<kusec>\d+),(?P<kflag>[^,;\s]*)"
    r"(?:,caller=(?P<kcaller>[TC]\d+))?(?:,[^;\s]*)*;"
    # dmesg -T (ctime, locale-dependent names), dmesg --time-format iso
    r"|\[(?P<ctime>[^\[\]\d]{0,20}\d[^\[\]]{0,30}\d\d:\d\d:\d\d \d{4})\] "
    r"|(?P<dmiso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?P<dmisofrac>,\d+)?(?P<dmisotz>[+-]\d\d:\d\d) "
    r")?"
    # dmesg -x: `kern  :warn  : `
    r"(?:(?P<xfac>kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|"
    r"local[0-7]) *:(?P<xlvl>emerg|alert|crit|err|warn|notice|info|debug) *: )?"
    # syslog(2) / pre-3.5 ring buffer level
    r"(?:<(?P<lvl>\d{1,3})>)?"
    # printk time and CONFIG_PRINTK_CALLER id (5.1+); the kernel puts exactly one space after
    r"(?:\[ *(?P<ts>\d+\.\d+)\](?:\[ *(?P<caller>[TC]\d+)\])? ?"
    r"|\[ *(?P<caller2>[TC]\d+)\] ?)?"
    r")"
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
