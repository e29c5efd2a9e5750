"""What redaction looks for in kernel text (stalllog/output/redact.py applies it).

Each rule is a Python regex plus a cheap RE2 trigger: pyarrow selects the cells a trigger
matches and only those go through Python, so a big `lines` table costs one pass in C.
The triggers must match every cell a rule could change (a superset is fine).
"""

from __future__ import annotations

import re

# digits of an address are not part of a longer number, version or word: `2.6.32.1-rc` and
# `kmalloc-1.2.3.4` are not addresses
IPV4 = re.compile(r"(?<![\w.\-])(?:\d{1,3}\.){3}\d{1,3}(?![\w.\-+~])")
# a kernel release before the build number (`Not tainted 2.6.32.1 #1`) or after `Linux version `
# looks like an address
RELEASE_AFTER = re.compile(r" #\d")
DOTTED = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")  # cheap test before IPV4
HEX64 = re.compile(r"[0-9a-f]{64}")  # cheap test before CONTAINER
IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})"
    r"(?![\w:.])"
)
MAC = re.compile(
    r"(?<![\w:\-])[0-9A-Fa-f]{2}([:\-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![\w:\-])"
)
# `user@host`: the builder in `Linux version X (user@host)`, mail addresses; both parts start
# with a letter (`6665@10.0.0.1` in `netconsole=` is a port and an address)
EMAIL = re.compile(
    r"(?<![\w.+\-])([A-Za-z][\w.+\-]*)@([A-Za-z][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)*)"
)
HOME = re.compile(r"(/home/|/Users/)([^/\s\"'(),:;]+)")
# docker/containerd/cri-o container ids (64 hex), kubepods pod uuids
CONTAINER = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")
POD = re.compile(r"pod[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}")
# journal fields naming the machine (structured inputs keep them in `prefix` / `raw`)
MACHINE = re.compile(r"(_MACHINE_ID(?:=|\"\s*:\s*\"))([0-9a-fA-F]{32})")
HOSTNAME_FIELD = re.compile(r"_HOSTNAME(?:=|\"\s*:\s*\")([^\s\"]+)")
CMDLINE = re.compile(r"((?:Kernel )?[Cc]ommand line: )([^\"\n]*)")

# Host names in free text (`nfs: server files.example.com not responding`): dotted names whose
# last label is a top-level domain people name hosts under. Kernel text is full of dotted
# words that are no host (symbols `foo.isra.0`, `foo.cold`, `foo.constprop.0`, files
# `vmscan.c`, `a.out`, `libc.so.6`, `xfs.ko`, module options `kvm-intel.nested`, releases
# `6.1.0-56-amd64`, `4.19.4-1.el7.elrepo`, units `system.slice`): the last label must be one
# of these, never a file suffix (`.c`, `.h`, `.so`, `.ko`, `.sh`, `.py`, `.pl`, `.md`,
# `.in`, `.cc`, `.go` are left out on purpose).
FQDN_TLDS = frozenset(
    {
        "com", "net", "org", "edu", "gov", "mil", "info", "biz", "arpa", "io", "co", "ai",
        "cloud", "dev", "me", "tv", "eu", "us", "uk", "de", "fr", "nl", "jp", "cn", "ru", "it",
        "es", "se", "fi", "dk", "cz", "sk", "ch", "at", "be", "ca", "au", "nz", "br", "kr",
        "tw", "hk", "sg", "ie", "il", "za", "mx", "ar", "pt", "gr", "hu", "ro", "ua", "tr",
        "vn", "th", "my", "ph", "lt", "lv", "ee", "si", "hr", "nu", "ws",
        # names sites give their own networks, and the reserved ones (RFC 2606, 6762)
        "local", "localdomain", "lan", "home", "corp", "internal", "intranet", "private",
        "example", "test", "invalid",
    }
)  # fmt: skip
FQDN = re.compile(
    r"(?<![\w.\-@])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,13})"
    r"(?![\w\-]|\.[\w\-])"
)
FQDN_TRIGGER = r"[A-Za-z0-9]\.(?i:" + "|".join(sorted(FQDN_TLDS)) + r")(?:[^\w\-]|$)"

TRIGGER = "|".join(
    [
        r"\d\.\d+\.\d+\.\d",
        r"[0-9A-Fa-f]::|::[0-9A-Fa-f]|(?:[0-9A-Fa-f]{1,4}:){7}",
        r"[0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-]",
        "@",
        "/home/|/Users/",
        "[0-9a-f]{64}",
        "pod[0-9a-f]{8}",
        "_MACHINE_ID|_HOSTNAME",
        "ommand line: ",
        FQDN_TRIGGER,
    ]
)

# The host of a syslog or journal line (RFC 3164, RFC 3339 stamps, RFC 5424, journal fields):
# scanned before a streamed parse, so that every batch of `lines` knows every host name
# (one named in a message before its own first line included).
HOST_PREFIX = re.compile(
    rb"^(?:(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"
    rb"|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-][\d:]+)?)"
    rb" ([^\s\[\]:]+) (?:[\w./@()-]+(?:\[\d+\])?: |\[ *\d+\.\d+\])"  # tag, or netconsole
    rb"|<\d{1,3}>1 \S+ ([^\s\[\]]+) )"  # RFC 5424
)
HOST_FIELD = re.compile(rb'_HOSTNAME(?:=|"\s*:\s*")([^\s"]+)')

# kernel command line keys whose value is a secret or names the site
SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|luks|cred|auth", re.IGNORECASE)
NOT_SECRET_KEYS = frozenset({"passthrough", "keyboard", "keymap", "keytable"})  # switches

# --redact-comm: where kernel messages print a task's name (comm)
_C = r"(?P<comm>[^\n]{1,16}?)"
_TASK_LINE = r" +[RSDTtXZIPWK](?: +running task)? *(?:[0-9a-f]{8,16} +)?\d+ +\d+ +\d+ +0x"
COMM_CONTEXTS = [
    re.compile(r"Comm: " + _C + r"(?= (?:Kdump: loaded )?(?:Not )?[Tt]ainted)"),
    re.compile(r"Pid: \d+, comm: " + _C + r"(?= (?:Not )?[Tt]ainted)"),
    # `Killed process 20557 (haproxy)`; 2.6.32: `Killed process 20557, UID 188, (haproxy)`
    re.compile(r"[Pp]rocess \d+,?(?: UID \d+,)? \(" + _C + r"\)"),
    re.compile(r"^ *" + _C + r"(?: invoked oom-killer| cpuset=)"),
    re.compile(
        r"^ *" + _C + r"(?:\(\d+\))?: (?:vmalloc: )?(?:page )?allocation (?:stalls|failure)"
    ),
    re.compile(r"MemAlloc: " + _C + r"\(\d+\)"),
    re.compile(r"INFO: task " + _C + r":\d+ (?:blocked|can't die)"),
    re.compile(r"task:" + _C + r" +state:"),
    re.compile(r"(?:locks? held by|by task) " + _C + r"/\d+"),
    re.compile(r"^ *" + _C + r"/\d+ is trying to acquire"),
    re.compile(r"stuck for \d+s! \[" + _C + r":\d+\]"),
    re.compile(r",task=" + _C + r",pid="),
    re.compile(r", pid: \d+, name: " + _C + r"$"),  # `BUG: sleeping function called ...`
    # the OOM task table: `[  pid  ]   uid  tgid total_vm ... name` (5 to 11 numbers)
    re.compile(r"^\[ *\d+\](?: +-?\d+){5,12} +" + r"(?P<comm>[^\n]{1,16}?) *$"),
    # SysRq-t task lines before 4.14: `a.out   D ffff88007b2cbb40     0  3420   3418 0x00000080`,
    # `systemd-journal D11240   526      1 0x00000000`, `b.out  R  running task   0   554 ...`
    re.compile(r"^ *" + _C + _TASK_LINE),
]
COMM_TRIGGER = "|".join(
    [
        "omm: ",
        r"rocess \d",
        "invoked oom-killer| cpuset=",
        "allocation ",
        "MemAlloc: ",
        "INFO: task ",
        "task:",
        "held by |by task ",
        "is trying to acquire",
        r"stuck for \d",
        ",task=",
        ", name: ",
        r"^\[ *\d+\]",
        _TASK_LINE,
    ]
)

# Kernel threads identify nothing and experts need their names: kept under --redact-comm.
# Workqueue and per-CPU threads carry a `/` (`kworker/3:0`, `xfs-data/sda1`), which a
# program's comm (the basename of its executable) does not.
KERNEL_THREAD = re.compile(
    r"(?:.*/.*"
    r"|kswapd\d*|kcompactd\d*|khugepaged|kthreadd|ksmd|oom_reaper|khungtaskd|kdevtmpfs"
    r"|kauditd|kblockd|kintegrityd|kthrotld|kworker.*|ksoftirqd.*|migration.*|rcu_.*"
    r"|swapper.*|watchdogd|writeback|jbd2.*|xfsaild.*|xfs[-_].*|kjournald.*|scsi_.*|kmpath.*"
    r"|kpsmoused|ipv6_addrconf|mm_percpu_wq|netns|khelper|events.*|pdflush|bdi-.*|flush-.*"
    r"|kacpid|kacpi_.*|kcryptd.*|dmcrypt_write.*|cpuhp.*|idle_inject.*|kstrp|zswap.*"
    r"|ata_sff|md|edac-poller|devfreq_wq|kmemleak|khvcd|hwrng|kvm-.*|card\d+-crtc\d+"
    r"|nfsiod|rpciod|crypto|cryptd|ext4-.*|loop\d+|nvme-.*|kaluad|ttm_swap)"
)
