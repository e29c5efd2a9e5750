"""The clue: the few kilobytes of a vmcore that tell why the machine stalled, small and
redacted so that a customer can send it instead of the dump.

`clue_facts(result)` gathers the facts (a JSON-able dict), redacted and made safe for a
terminal; `render_clue(result, fmt)` renders them as text (≤ 80 columns, clue_text.py) or
JSON and cuts the least important lists (oldest log lines first, then findings, memcgs,
stalled classes, zones) until the output fits `limit` bytes, saying what was cut.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pandas as pd

from stalllog.output.redact import Redactor
from stalllog.output.safe import for_terminal
from stalllog.vmcore.document import as_bool, as_dict, as_int, as_list, as_str
from stalllog.vmcore.read import VmcoreResult

__all__ = ["CLUE_LIMIT", "LOG_LINES", "clue_facts", "render_clue"]

CLUE_LIMIT = 16 * 1024
LOG_LINES = 30
FORMAT = "stalllog-vmcore-clue"
MAX_PIDS = 12  # pids listed per class
MAX_FRAMES = 16  # frames of a stack shown
OWNER_FRAMES = 24  # of the oom_lock owner's
MAX_FINDINGS = 8
MAX_VMSTAT = 40  # counters shown (a document may hold any number of allocstall_* keys)
MAX_TEXT = 160  # characters of one untrusted string
_SEVERITY = {"critical": 0, "warning": 1, "info": 2}
# by the kernel's enum names (the document's), which /proc/vmstat sometimes spells otherwise:
# NR_FILE_DIRTY "nr_dirty", NR_SLAB_RECLAIMABLE_B "nr_slab_reclaimable", COMPACTSTALL
# "compact_stall"
_VMSTAT = ("nr_free_pages", "nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
           "nr_active_file", "nr_unevictable", "nr_slab_reclaimable_b",
           "nr_slab_unreclaimable_b", "nr_shmem", "nr_file_dirty", "nr_writeback",
           "nr_isolated_anon", "nr_isolated_file", "nr_swapcache", "pgscan_kswapd",
           "pgsteal_kswapd", "compactstall", "compactfail", "compactsuccess",
           "workingset_refault_file", "pswpin", "pswpout", "oom_kill")  # fmt: skip
_VMSTAT_PREFIXES = ("allocstall_", "pgscan_direct", "pgsteal_direct")
# cut first to last: (key, from the front) — the oldest log lines go first
CUT_ORDER = (("log", True), ("findings", False), ("memcg", False), ("stalled", False),
             ("zones", False), ("waiters", False))  # fmt: skip


_NO_HOST = frozenset({"(none)", "localhost"})  # the kernel's default, and no name at all


class _Clean:
    """Untrusted text made safe to show: redacted (host names, addresses, users, container
    ids, secrets; with `comm`, process names but kernel threads'), control characters
    escaped, length bounded."""

    def __init__(self, doc: dict[str, Any], redactor: Redactor, comms: list[str]) -> None:
        self.redactor = redactor
        host = as_str(as_dict(doc.get("kernel")).get("hostname"))
        if host and host not in _NO_HOST:
            self.redactor.learn_hosts([host, host.split(".", 1)[0]])
        if redactor.comm:  # known before any text is rewritten: `name(123)` in findings too
            self.redactor.learn_comms(comms)

    def __call__(self, s: Any, limit: int = MAX_TEXT, kernel_text: bool = False) -> str | None:
        if s is None or (isinstance(s, float) and math.isnan(s)) or s is pd.NA:
            return None
        text = for_terminal(self.redactor.comm_text(str(s), kernel_text), markup=False)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def comm(self, s: Any) -> str | None:
        if s is None or s is pd.NA or not self.redactor.comm:
            return self(s, 64)
        return self(self.redactor.comm_name(str(s)), 64)

    def cmdline(self, s: str | None) -> str | None:
        return None if s is None else self(self.redactor.cmdline(s), 400)


def _num(v: Any) -> Any:
    """A pandas cell as a JSON value (NA -> None, numpy scalars -> Python)."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def _stack(frames: pd.DataFrame, pid: int, clean: _Clean, limit: int = MAX_FRAMES) -> list[str]:
    """The frames the console would print, innermost first, at most `limit`."""
    f = frames[(frames["pid"] == pid) & ~frames["inline"].fillna(False).astype(bool)]
    f = f.sort_values("depth")
    out = []
    for fn, off, mod in zip(f["function"], f["offset"], f["module"], strict=True):
        text = f"{_num(fn) or '?'}+{_num(off):#x}" if _num(off) is not None else str(_num(fn))
        out.append(clean(text + (f" [{mod}]" if _num(mod) else ""), 100) or "?")
    if len(out) > limit:
        out[limit - 1 :] = [f"... {len(out) - limit + 1} more frames"]
    return out


def _task_brief(t: dict[Any, Any], clean: _Clean) -> dict[str, Any]:
    return {
        "pid": _num(t["pid"]),
        "comm": clean.comm(_num(t["comm"])),
        "state": _num(t["state"]),
        "class": _num(t["stuck_in"]),
        "detail": clean(_num(t["detail"])),
        "since_ran_s": _num(t["since_ran_s"]),
    }


def _oom_lock(res: VmcoreResult, clean: _Clean) -> dict[str, Any]:
    tasks, frames = res.tables["vmcore_tasks"], res.tables["vmcore_frames"]
    row = res.tables["vmcore_oom_lock"].iloc[0]
    owner = _num(row["owner_pid"])
    by_pid = {_num(t["pid"]): t for t in tasks.to_dict("records")}
    out: dict[str, Any] = {"owner": None, "waiters": [], "oom_lock_wait": 0}
    if owner is not None:
        o = {"pid": owner, "known": owner in by_pid}
        if o["known"]:
            o |= _task_brief(by_pid[owner], clean)
            o["stack"] = _stack(frames, owner, clean, OWNER_FRAMES)
        out["owner"] = o
    for p in as_list(as_dict(res.document.get("oom_lock")).get("waiters")):
        pid = as_int(p)
        if pid is not None:
            known = pid in by_pid
            out["waiters"].append(_task_brief(by_pid[pid], clean) if known else {"pid": pid})
    out["oom_lock_wait"] = _num(row["oom_lock_wait"])
    pids = _num(row["oom_lock_wait_pids"])
    out["oom_lock_wait_pids"] = [int(p) for p in pids.split()[:MAX_PIDS]] if pids else []
    return out


def stalled_mask(tasks: pd.DataFrame) -> pd.Series:
    """D state, or a class other than `other` that is not an idle kernel thread."""
    cls = tasks["stuck_in"].fillna("other")
    busy = (cls != "other") & ~tasks["idle"].fillna(False).astype(bool)
    return (tasks["state"].fillna("") == "D") | busy


def _stalled(res: VmcoreResult, clean: _Clean) -> list[dict[str, Any]]:
    """Per class: counts, pids (longest off the CPU first), the details with their counts,
    and one stack: the most common among the tasks with the most common detail."""
    tasks, frames = res.tables["vmcore_tasks"], res.tables["vmcore_frames"]
    st = tasks[stalled_mask(tasks)].copy()
    st["cls"] = st["stuck_in"].fillna("unknown (no stack)")
    st["det"] = st["detail"].fillna("")
    out = []
    for cls, g in sorted(st.groupby("cls"), key=lambda kv: (-len(kv[1]), kv[0])):
        g = g.sort_values("since_ran_s", ascending=False, na_position="last")
        details = Counter(g["det"]).most_common()
        top = g[g["det"] == details[0][0]]
        stacks = Counter(top["top_frames"].fillna(""))
        rep = top[top["top_frames"].fillna("") == stacks.most_common(1)[0][0]].iloc[0]
        out.append({
            "class": cls,
            "count": len(g),
            "states": dict(Counter(str(_num(s)) for s in g["state"]).most_common()),
            "pids": [_num(p) for p in g["pid"].head(MAX_PIDS)],
            "off_cpu_s": _off_cpu(g["since_ran_s"]),
            "details": {clean(d) or "": n for d, n in details[:3]},
            "stack_pid": _num(rep["pid"]),
            "same_stack": stacks.most_common(1)[0][1],
            "stack": _stack(frames, _num(rep["pid"]), clean),
        })  # fmt: skip
    return out


def _off_cpu(since_ran: pd.Series) -> dict[str, float] | None:
    """How long the class's tasks had not run at the dump: longest and median, in s."""
    s = pd.to_numeric(since_ran, errors="coerce").dropna()
    if s.empty:
        return None
    return {"max": round(float(s.max()), 3), "median": round(float(s.median()), 3)}


def _vmstat(res: VmcoreResult) -> dict[str, Any]:
    """The key counters in a fixed order (_VMSTAT's, then the prefixed ones by name)."""
    vs = res.tables["vmcore_vmstat"].drop_duplicates("name").set_index("name")["value"]
    names = [n for n in _VMSTAT if n in vs.index]
    names += sorted(str(n) for n in vs.index if str(n).startswith(_VMSTAT_PREFIXES))
    return {n[:40]: _num(vs[n]) for n in names[:MAX_VMSTAT]}


def _zones(res: VmcoreResult) -> list[dict[str, Any]]:
    cols = ("node", "zone", "free_pages", "min", "low", "high", "boost", "reserve_pages",
            "managed_pages", "below_min", "below_low")  # fmt: skip
    z = res.tables["vmcore_zones"]
    return [{c: _num(r[c]) if c != "zone" else for_terminal(str(_num(r[c])))[:16] for c in cols}
            for _, r in z.iterrows()]  # fmt: skip


def _memcg(res: VmcoreResult, clean: _Clean) -> list[dict[str, Any]]:
    m = res.tables["vmcore_memcg"]
    kills = m["oom_kill"].fillna(0).to_numpy(dtype=int) > 0
    shown = m["limit_pages"].notna().to_numpy() | kills | (m["path"].fillna("") == "/").to_numpy()
    m = m[shown]
    m = m.sort_values("usage_pages", ascending=False, na_position="last")
    return [{"path": clean(_num(r["path"])), "usage_pages": _num(r["usage_pages"]),
             "limit_pages": _num(r["limit_pages"]), "oom_kill": _num(r["oom_kill"]),
             "tasks": _num(r["n_tasks"])} for _, r in m.iterrows()]  # fmt: skip


def _findings(res: VmcoreResult, clean: _Clean) -> list[dict[str, Any]]:
    f = res.analysis["findings"]
    rank = f["severity"].map(lambda s: _SEVERITY.get(str(s), 3))
    f = f.assign(_rank=rank).sort_values("_rank", kind="stable").head(MAX_FINDINGS)
    return [{"severity": _num(s), "kind": _num(k), "text": clean(_num(t), 600)}
            for s, k, t in zip(f["severity"], f["kind"], f["text"], strict=True)]  # fmt: skip


def _log(res: VmcoreResult, clean: _Clean, n: int) -> list[dict[str, Any]]:
    lines = res.capture.arrow["lines"].select(["ts", "text", "prefix_kind"]).to_pylist()
    shown = [ln for ln in lines if "kmsg_dict" not in (ln["prefix_kind"] or "")]
    return [{"ts": ln["ts"], "text": clean(ln["text"], 300, kernel_text=True)}
            for ln in shown[-n:] if n > 0]  # fmt: skip


def _header(res: VmcoreResult, clean: _Clean) -> dict[str, Any]:
    k, d = as_dict(res.document.get("kernel")), as_dict(res.document.get("dump"))
    tasks = res.tables["vmcore_tasks"]
    states = Counter(str(_num(s)) if _num(s) else "?" for s in tasks["state"])
    return {
        "format": FORMAT,
        "version": 1,
        "source": clean(res.source, 80),
        "release": clean(as_str(k.get("release")), 80),
        "machine": clean(as_str(k.get("machine")), 20),
        "hostname": clean(as_str(k.get("hostname")), 80),
        "nr_cpus": as_int(k.get("nr_cpus")),
        "hz": as_int(k.get("hz")),
        "cmdline": clean.cmdline(as_str(k.get("cmdline"))),
        "uptime_s": _num(res.tables["vmcore_oom_lock"]["uptime_s"].iloc[0]),
        "panic": as_bool(d.get("panic")),
        "tasks": len(tasks),
        "states": dict(states.most_common()),
        "collector_errors": [clean(e, 200) for e in as_list(res.document.get("errors"))[:5]],
    }


def clue_facts(
    res: VmcoreResult, log_lines: int = LOG_LINES, redactor: Redactor | None = None
) -> dict[str, Any]:
    """Every fact the clue shows, redacted, before any cut. redactor: one shared with the
    other outputs of the run (same pseudonyms), process names replaced if it says so."""
    comms = sorted({str(c) for c in res.tables["vmcore_tasks"]["comm"].dropna()})
    clean = _Clean(res.document, redactor or Redactor(comm=False), comms)
    facts = _header(res, clean)
    lock = _oom_lock(res, clean)
    facts |= {
        "oom_lock": lock["owner"],
        "oom_lock_wait": lock["oom_lock_wait"],
        "oom_lock_wait_pids": lock["oom_lock_wait_pids"],
        "waiters": lock["waiters"],
        "stalled": _stalled(res, clean),
        "zones": _zones(res),
        "vmstat": _vmstat(res),
        "memcg": _memcg(res, clean),
        "findings": _findings(res, clean),
        "log": _log(res, clean, log_lines),
        "cut": {},
    }
    return facts


def render_clue(
    res: VmcoreResult,
    fmt: str = "text",
    limit: int = CLUE_LIMIT,
    log_lines: int = LOG_LINES,
    redactor: Redactor | None = None,
) -> str:
    """The clue as text or JSON, at most `limit` bytes (UTF-8). Always redacted; process
    names only by a redactor made with `comm=True` (else kept: they are the diagnosis)."""
    from stalllog.vmcore.clue_text import render_text

    facts = clue_facts(res, log_lines, redactor)

    def render() -> str:
        if fmt == "json":
            return json.dumps(facts, indent=1, ensure_ascii=False) + "\n"
        return render_text(facts)

    out = render()
    while len(out.encode()) > limit:
        key, front = next(((k, f) for k, f in CUT_ORDER if facts[k]), (None, False))
        if key is None:  # nothing left to cut: the fixed part alone is too big (hostile input)
            return _hard_cut(out, limit)
        facts[key].pop(0 if front else -1)
        facts["cut"][key] = facts["cut"].get(key, 0) + 1
        out = render()
    return out


def _hard_cut(out: str, limit: int) -> str:
    marker = f"\n[clue cut at {limit} bytes: {len(out.encode()) - limit} more bytes]\n"
    head = out.encode()[: limit - len(marker.encode())].decode("utf-8", "ignore")
    return head + marker
