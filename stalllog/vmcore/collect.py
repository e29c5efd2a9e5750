"""The drgn collector: a vmcore (or `/proc/kcore`) and its vmlinux in, the `stalllog-vmcore`
document of `collected.py` out. Plain facts, no interpretation.

Every read is guarded: a dump of a live machine has tasks that exited and lists torn in the
middle, so a value that cannot be read becomes `null` and one sentence in `errors`, never a
traceback for the whole document. drgn is imported here only (the `vmcore` extra).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .collected import FORMAT, VERSION

if TYPE_CHECKING:
    import drgn

__all__ = ["CollectError", "Reader", "collect"]

T = TypeVar("T")
INSTALL_HINT = "pip install 'stalllog[vmcore]'"
MAX_ERRORS = 200  # a dump of a dying machine can fail the same way for every task


class CollectError(RuntimeError):
    """The dump could not be opened at all (no drgn, wrong file, vmlinux that does not match)."""


class Reader:
    """The errors of one collection: `read` runs one guarded read and notes why it failed."""

    def __init__(self, prog: drgn.Program) -> None:
        self.prog = prog
        self.errors: list[str] = []
        self._seen: set[str] = set()
        self.dropped = 0

    def note(self, sentence: str) -> None:
        if sentence in self._seen:
            return
        if len(self.errors) >= MAX_ERRORS:
            self.dropped += 1
            return
        self._seen.add(sentence)
        self.errors.append(sentence)

    def read(self, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except Exception as exc:  # one bad read is one null, whatever drgn raised
            self.note(f"{what}: {reason(exc)}")
            return None

    def has_member(self, type_name: str, member: str) -> bool:
        """Whether the kernel's struct has the member (it varies with version and config)."""
        try:
            return bool(self.prog.type(type_name).has_member(member))
        except LookupError:
            return False

    def constant(self, name: str) -> int | None:
        """An enumerator's value, or None when this kernel has no such enumerator."""
        try:
            return int(self.prog.constant(name).value_())
        except LookupError:
            return None


def reason(exc: BaseException) -> str:
    """One sentence for an exception: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _import_drgn() -> Any:
    try:
        import drgn
    except ImportError as exc:
        raise CollectError(f"reading a vmcore needs drgn: {INSTALL_HINT}") from exc
    return drgn


def open_program(vmcore: Path | None, vmlinux: Path, *, kcore: bool = False) -> drgn.Program:
    """A drgn Program on the dump (or the running kernel) with vmlinux's debug info loaded."""
    drgn = _import_drgn()
    if not vmlinux.is_file():
        raise CollectError(f"{vmlinux}: no such vmlinux")
    if not kcore and vmcore is None:
        raise CollectError("collect needs a vmcore (or kcore=True)")
    where = "/proc/kcore" if kcore else str(vmcore)
    try:
        prog = _target(drgn, None if kcore or vmcore is None else os.fspath(vmcore))
    except Exception as exc:  # drgn raises a bare Exception for a file it cannot read
        raise CollectError(f"cannot open {where}: {reason(exc)}") from exc
    try:
        # vmlinux only: the modules' frames keep their kallsyms names without their debug info
        prog.load_debug_info([os.fspath(vmlinux)], default=False, main=False)
    except drgn.MissingDebugInfoError:
        pass  # vmlinux itself is checked below
    except Exception as exc:
        raise CollectError(f"cannot load {vmlinux}: {reason(exc)}") from exc
    try:
        prog["init_uts_ns"]
    except (LookupError, drgn.FaultError) as exc:
        raise CollectError(f"{vmlinux}: its debug info does not describe {where}") from exc
    return prog


def _target(drgn: Any, path: str | None) -> drgn.Program:
    """The Program on the core dump at `path`, or on the running kernel when None."""
    if path is None:
        prog = drgn.Program()
        prog.set_kernel()  # /proc/kcore: needs root
        return prog
    try:
        prog = drgn.Program()
        prog.set_core_dump(path)
        return prog
    except Exception:
        # QEMU's dump-guest-memory kdump files leave the architecture out of the header
        # (libkdumpfile: "KDUMP_ATTR_ARCH_NAME: Key has no value"): take this machine's
        prog = drgn.Program(drgn.host_platform)
        prog.set_core_dump(path)
        return prog


def collect(vmcore: Path | None, vmlinux: Path, *, kcore: bool = False) -> dict[str, Any]:
    """The `stalllog-vmcore` document (see `collected.py`) read from `vmcore` with `vmlinux`,
    or from the running kernel's `/proc/kcore` when `kcore` is true."""
    from . import collect_mm, collect_tasks

    prog = open_program(vmcore, vmlinux, kcore=kcore)
    r = Reader(prog)
    r.read("the modules' kallsyms", _module_symbols, prog)
    dump = _dump(r, vmcore, kcore)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "collector": _collector(),
        "kernel": _kernel(r),
        "dump": dump,
        "tasks": collect_tasks.tasks(r, dump["uptime_ns"]),
        "oom_lock": collect_tasks.oom_lock(r),
        "printk": _printk(r),
        "zones": collect_mm.zones(r),
        "vmstat": collect_mm.vmstat(r),
        "memcg": collect_mm.memcgs(r),
    }
    if r.dropped:
        r.errors.append(f"{r.dropped} more read failures not listed")
    doc["errors"] = r.errors
    return doc


def _module_symbols(prog: drgn.Program) -> None:
    """Name the frames of loadable modules (no debug info for them) by their kallsyms."""
    from drgn.helpers.linux.kallsyms import load_module_kallsyms

    index = load_module_kallsyms(prog)
    prog.register_symbol_finder("stalllog_module_kallsyms", index, enable_index=-1)


def _collector() -> dict[str, str]:
    import drgn

    from stalllog import __version__

    return {"drgn": str(drgn.__version__), "stalllog": __version__}


def _text(obj: Any) -> str:
    return bytes(obj.string_()).decode("utf-8", errors="replace")


def _kernel(r: Reader) -> dict[str, Any]:
    from drgn.helpers.linux.cpumask import num_online_cpus

    prog = r.prog
    uts = r.read("init_uts_ns", lambda: prog["init_uts_ns"].name)

    def field(name: str) -> str | None:
        return (
            None
            if uts is None
            else r.read(f"init_uts_ns.name.{name}", lambda: _text(uts.member_(name)))
        )

    return {
        "release": field("release"),
        "version": field("version"),
        "machine": field("machine"),
        "hostname": field("nodename"),
        "hz": r.read("HZ", lambda: _hz(prog)),
        "page_size": r.read("PAGE_SIZE", lambda: int(prog["PAGE_SIZE"].value_())),
        "nr_cpus": r.read("the online CPUs", lambda: int(num_online_cpus(prog))),
        "cmdline": r.read("saved_command_line", lambda: _text(prog["saved_command_line"])),
    }


def _hz(prog: drgn.Program) -> int:
    """CONFIG_HZ, which is a macro (not in the debug info): from the tick length in ns."""
    try:
        # kernel/time/ntp.c: NSEC_PER_SEC / HZ, NTP-adjusted (hence the rounding)
        tick_nsec = int(prog["tick_nsec"].value_())
    except LookupError:
        # gone since v6.13 (a849a0273d0f "ntp: Remove unused tick_nsec"): the jiffies
        # clocksource's mult is TICK_NSEC << JIFFIES_SHIFT (kernel/time/jiffies.c)
        cs = prog["clocksource_jiffies"]
        tick_nsec = int(cs.mult.value_()) >> int(cs.shift.value_())
    if tick_nsec <= 0:
        raise ValueError(f"tick length {tick_nsec} ns")
    return round(1_000_000_000 / tick_nsec)


def _uptime_ns(r: Reader) -> int | None:
    """The largest per-CPU runqueue clock: "now" as the scheduler saw it in the dump."""
    from drgn.helpers.linux.cpumask import for_each_online_cpu

    prog = r.prog
    clocks = []
    for cpu in r.read("the online CPUs", lambda: list(for_each_online_cpu(prog))) or []:
        clock = r.read(f"CPU {cpu} rq clock", _rq_clock, prog, cpu)
        if clock is not None:
            clocks.append(clock)
    return max(clocks) if clocks else None


def _rq_clock(prog: drgn.Program, cpu: int) -> int:
    from drgn.helpers.linux.sched import cpu_rq

    return int(cpu_rq(prog, cpu).clock)


def _dump(r: Reader, vmcore: Path | None, kcore: bool) -> dict[str, Any]:
    prog = r.prog

    def panicked() -> bool:
        # panic_cpu is PANIC_CPU_INVALID (-1) until a CPU enters panic() (kernel/panic.c)
        return int(prog["panic_cpu"].counter.value_()) != -1

    return {
        "file": "kcore" if kcore or vmcore is None else vmcore.name,
        "uptime_ns": _uptime_ns(r),
        "panic": r.read("panic_cpu", panicked),
    }


def _printk(r: Reader) -> list[dict[str, Any]] | None:
    from drgn.helpers.linux.printk import get_printk_records

    records = r.read("the printk ring", lambda: get_printk_records(r.prog))
    if records is None:
        return None
    out = []
    for rec in records:
        if rec.caller_tid is not None:
            caller: str | None = f"T{rec.caller_tid}"
        elif rec.caller_cpu is not None:
            caller = f"C{rec.caller_cpu}"
        else:
            caller = None
        out.append(
            {
                "seq": rec.seq,
                "ts_nsec": rec.timestamp,
                "level": rec.level,
                "facility": rec.facility,
                "caller": caller,
                "continuation": bool(rec.continuation),
                "text": rec.text.decode("utf-8", errors="replace"),
                "dict": {
                    k.decode("utf-8", errors="replace"): v.decode("utf-8", errors="replace")
                    for k, v in rec.context.items()
                },
            }
        )
    return out
