"""The clue as plain text of at most 80 columns (for mail and tickets); the facts come from
clue.py already redacted and escaped."""

from __future__ import annotations

import textwrap
from typing import Any

__all__ = ["WIDTH", "render_text"]

WIDTH = 80
_CUT_NAMES = {"log": "log lines", "findings": "findings", "memcg": "memcgs",
              "stalled": "stalled classes", "zones": "zones", "waiters": "waiters"}  # fmt: skip


def _wrap(text: str, indent: str = "  ", first: str | None = None) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent if first is None else first,
        subsequent_indent=indent + "  ", break_long_words=True, break_on_hyphens=False,
    ) or [first or indent]  # fmt: skip


def _secs(v: Any) -> str:
    return "?" if v is None else f"{v:.1f} s"


def _who(t: dict[str, Any]) -> str:
    if "comm" not in t:
        return f"pid {t['pid']} (not among the tasks read)"
    return f"pid {t['pid']} ({t['comm']}) state {t['state'] or '?'}"


def _stack(frames: list[str]) -> list[str]:
    return [f"    {f}" for f in frames] or ["    (no stack)"]


def _header(f: dict[str, Any]) -> list[str]:
    out = [f"stalllog vmcore clue: {f['source']}"]
    out += _wrap(f"kernel {f['release'] or '?'} {f['machine'] or ''}, {f['nr_cpus'] or '?'} "
                 f"CPUs, HZ={f['hz'] or '?'}, host {f['hostname'] or '?'}", "", "")  # fmt: skip
    kind = {True: "panic", False: "live or forced dump", None: "kind unknown"}[f["panic"]]
    out.append(f"uptime at the dump: {_secs(f['uptime_s'])} ({kind})")
    states = ", ".join(f"{s} {n}" for s, n in f["states"].items())
    out += _wrap(f"tasks: {f['tasks']} ({states})", "  ", "")
    if f["cmdline"]:
        out += _wrap(f"command line: {f['cmdline']}", "  ", "")
    for e in f["collector_errors"]:
        out += _wrap(f"collector: {e}", "  ", "")
    return out


def _oom_lock(f: dict[str, Any]) -> list[str]:
    o = f["oom_lock"]
    out = ["", "== oom_lock"]
    if o is None:
        out.append("not held")
    else:
        out += _wrap(f"held by {_who(o)}", "  ", "")
        if "comm" in o:
            out += _wrap(f"class {o['class'] or '?'}: {o['detail'] or ''}", "  ")
            out.append(f"  last ran {_secs(o['since_ran_s'])} before the dump")
            out += ["  stack:", *_stack(o["stack"])]
    w = f["waiters"]
    out.append(f"waiters on the mutex: {len(w) + f['cut'].get('waiters', 0)}")
    out += [f"  {_who(t)}" + (f" {t['class']}" if t.get("class") else "") for t in w]
    out.append(f"tasks in the trylock backoff (oom_lock_wait): {f['oom_lock_wait']}")
    if f["oom_lock_wait_pids"]:
        more = " ..." if f["oom_lock_wait"] > len(f["oom_lock_wait_pids"]) else ""
        out += _wrap("pids " + " ".join(map(str, f["oom_lock_wait_pids"])) + more)
    return out


def _dur(s: float) -> str:
    return f"{s:.1f} s" if s >= 1 else f"{s * 1000:.0f} ms"


def _stalled(f: dict[str, Any]) -> list[str]:
    owner = f["oom_lock"]
    out = ["", "== stalled tasks (D state, or stuck in a class other than idle/other)"]
    if not f["stalled"]:
        out.append("(cut)" if f["cut"].get("stalled") else "none")
    for c in f["stalled"]:
        states = ", ".join(f"{s} {n}" for s, n in c["states"].items())
        out.append(f"{c['class']}: {c['count']} task{'s' if c['count'] != 1 else ''} ({states})")
        more = " ..." if c["count"] > len(c["pids"]) else ""
        out += _wrap("pids " + " ".join(map(str, c["pids"])) + more)
        if c.get("off_cpu_s"):
            off = c["off_cpu_s"]
            out.append(f"  off the CPU up to {_dur(off['max'])} (median {_dur(off['median'])})")
        for detail, n in c["details"].items():
            out += _wrap(f"{n} {detail or '(no detail)'}")
        rest = c["count"] - sum(c["details"].values())
        if rest:
            out.append(f"  {rest} with other details")
        if owner is not None and c["stack_pid"] == owner["pid"]:
            out.append(f"  stack of pid {owner['pid']}: the oom_lock owner's, above")
            continue
        top = f"{c['same_stack']} with the same innermost frames"
        out.append(f"  stack of pid {c['stack_pid']} ({top}):")
        out += _stack(c["stack"])
    return out


def _memory(f: dict[str, Any]) -> list[str]:
    out = ["", "== memory (pages)"]
    out.append(f"{'node zone':<13}{'free':>9}{'min':>8}{'low':>8}{'high':>8}{'boost':>7}"
               f"{'reserve':>8}  below_min")  # fmt: skip
    for z in f["zones"]:
        cells = [z[k] if z[k] is not None else "?" for k in
                 ("free_pages", "min", "low", "high", "boost", "reserve_pages")]  # fmt: skip
        verdict = {True: "yes", False: "no", None: "?"}[z["below_min"]]
        out.append(
            f"{z['node']!s:>4} {z['zone']:<8}{cells[0]!s:>9}{cells[1]!s:>8}"
            f"{cells[2]!s:>8}{cells[3]!s:>8}{cells[4]!s:>7}{cells[5]!s:>8}  {verdict}"
        )
    stats = " ".join(f"{k}={v}" for k, v in f["vmstat"].items())
    out += _wrap(stats, "  ", "vmstat: ")
    for m in f["memcg"]:
        limit = m["limit_pages"] if m["limit_pages"] is not None else "max"
        # the root's own tasks are never charged (try_charge): only child cgroups count there
        usage = f"{m['usage_pages']} (child cgroups only)" if m["path"] == "/" else m["usage_pages"]
        out += _wrap(f"memcg {m['path']}: usage {usage} limit {limit} oom_kill "
                     f"{m['oom_kill']} tasks {m['tasks']}", "  ", "")  # fmt: skip
    return out


def _findings(f: dict[str, Any]) -> list[str]:
    out = ["", "== findings (stalllog analyze of the printk ring)"]
    if not f["findings"]:
        out.append("(cut)" if f["cut"].get("findings") else "none")
    for x in f["findings"]:
        out += _wrap(x["text"] or "", "    ", f"{(x['severity'] or '?').upper():<9}")
    return out


def _log(f: dict[str, Any]) -> list[str]:
    out = ["", f"== last {len(f['log'])} lines of the printk ring"]
    for ln in f["log"]:
        ts = f"[{ln['ts']:12.6f}] " if ln["ts"] is not None else ""
        text = ts + (ln["text"] or "")
        out.append(text if len(text) <= WIDTH else text[: WIDTH - 1] + "…")
    return out


def render_text(f: dict[str, Any]) -> str:
    lines = [*_header(f), *_oom_lock(f), *_stalled(f), *_memory(f), *_findings(f), *_log(f)]
    if f["cut"]:
        what = ", ".join(f"{n} {_CUT_NAMES[k]}" for k, n in f["cut"].items())
        lines += ["", f"[cut to stay within the size limit: {what} left out]"]
    return "\n".join(ln if len(ln) <= WIDTH else ln[: WIDTH - 1] + "…" for ln in lines) + "\n"
