"""The collector's memory facts: zones, vmstat counters, memcgs (see `collect.py`; needs drgn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import drgn

    from .collect import Reader

__all__ = ["memcgs", "vmstat", "zones"]

# (global array, enum naming its slots): mm/vmstat.c's counters as /proc/vmstat folds them
_GLOBAL_STATS = (
    ("vm_zone_stat", "zone_stat_item"),
    ("vm_node_stat", "node_stat_item"),
    # basic NUMA counters since v5.14 (f19298b9516c "mm/vmstat: convert NUMA statistics to
    # basic NUMA counters"); a kernel without CONFIG_NUMA has none
    ("vm_numa_event", "numa_stat_item"),
)


def _enum_names(prog: drgn.Program, tag: str, length: int) -> list[str | None]:
    """The slot names of a counter array, from the enum in the debug info, lower-cased.
    Aliases (WORKINGSET_REFAULT_ANON = WORKINGSET_REFAULT_BASE) name the slot by the last
    enumerator, the one /proc/vmstat prints."""
    names: list[str | None] = [None] * length
    for enumerator in prog.type(f"enum {tag}").enumerators or ():
        if 0 <= enumerator.value < length:
            names[enumerator.value] = enumerator.name.lower()
    return names


def _global_stat(r: Reader, var: str, tag: str) -> dict[str, int]:
    array = r.prog[var]
    length = int(array.type_.length or 0)
    values = array.read_()
    names = _enum_names(r.prog, tag, length)
    return {name: int(values[i].counter) for i, name in enumerate(names) if name is not None}


def _events(r: Reader) -> dict[str, int]:
    """The per-CPU vm_event_states summed over the online CPUs, as sum_vm_events() does."""
    from drgn.helpers.linux.cpumask import for_each_online_cpu
    from drgn.helpers.linux.percpu import per_cpu

    prog = r.prog
    states = prog["vm_event_states"]
    length = int(states.event.type_.length or 0)
    names = _enum_names(prog, "vm_event_item", length)
    totals = [0] * length
    for cpu in for_each_online_cpu(prog):
        events = per_cpu(states, cpu).event.read_()
        for i in range(length):
            totals[i] += int(events[i])
    return {name: totals[i] for i, name in enumerate(names) if name is not None}


def vmstat(r: Reader) -> dict[str, int] | None:
    """Every counter of /proc/vmstat that lives in kernel memory, by the kernel's enum name."""
    out: dict[str, int] = {}
    readable = False
    for var, tag in _GLOBAL_STATS:
        try:
            r.prog[var]
        except LookupError:
            if var != "vm_numa_event":
                r.note(f"{var}: absent from this kernel's debug info")
            continue
        part = r.read(var, _global_stat, r, var, tag)
        if part is not None:
            readable = True
            _merge(r, out, part, var)
    events = r.read("vm_event_states", lambda: _events(r))
    if events is not None:
        readable = True
        _merge(r, out, events, "vm_event_states")
    return out if readable else None


def _merge(r: Reader, out: dict[str, int], part: dict[str, int], var: str) -> None:
    for name, value in part.items():
        if name in out:
            r.note(f"{var}: {name} is also the name of an earlier counter, kept the first")
            continue
        out[name] = value


def zones(r: Reader) -> list[dict[str, Any]] | None:
    """Every populated zone of every online node (populated_zone(): present_pages != 0)."""
    from drgn.helpers.linux.mmzone import for_each_online_pgdat

    nodes = r.read("the online nodes", lambda: list(for_each_online_pgdat(r.prog)))
    if nodes is None:
        return None
    ids = _ZoneIds(r)
    out = []
    for pgdat in nodes:
        nid = r.read("a node's id", _node_id, pgdat)
        count = r.read(f"node {nid} zones", _node_zones, pgdat)
        for i in range(count or 0):
            zone = pgdat.node_zones[i]
            row = r.read(f"node {nid} zone {i}", _zone, r, ids, nid, zone)
            if row is not None and row["present_pages"]:
                out.append(row)
    return out


def _node_id(pgdat: drgn.Object) -> int:
    return int(pgdat.node_id)


def _node_zones(pgdat: drgn.Object) -> int:
    return int(pgdat.node_zones.type_.length or 0)


class _ZoneIds:
    """The enumerators zone fields are indexed by (read once)."""

    def __init__(self, r: Reader) -> None:
        self.free = r.constant("NR_FREE_PAGES")
        self.free_cma = r.constant("NR_FREE_CMA_PAGES")
        self.wmarks = [r.constant(n) for n in ("WMARK_MIN", "WMARK_LOW", "WMARK_HIGH")]


def _zone(r: Reader, ids: _ZoneIds, nid: int | None, zone: drgn.Object) -> dict[str, Any]:
    name = bytes(zone.name.string_()).decode("utf-8", errors="replace")
    where = f"node {nid} zone {name}"

    def stat(item: int | None) -> int | None:
        if item is None:
            return None
        return int(zone.vm_stat[item].counter)

    def wmark(item: int | None) -> int | None:
        return None if item is None else int(zone._watermark[item])

    return {
        "node": nid,
        "zone": name,
        "free_pages": r.read(f"{where} free pages", lambda: stat(ids.free)),
        "min": r.read(f"{where} min watermark", lambda: wmark(ids.wmarks[0])),
        "low": r.read(f"{where} low watermark", lambda: wmark(ids.wmarks[1])),
        "high": r.read(f"{where} high watermark", lambda: wmark(ids.wmarks[2])),
        "boost": r.read(f"{where} watermark_boost", lambda: int(zone.watermark_boost)),
        "present_pages": int(zone.present_pages),
        "managed_pages": r.read(f"{where} managed_pages", lambda: int(zone.managed_pages.counter)),
        "spanned_pages": r.read(f"{where} spanned_pages", lambda: int(zone.spanned_pages)),
        "lowmem_reserve": r.read(f"{where} lowmem_reserve", lambda: _ints(zone.lowmem_reserve)),
        # NR_FREE_CMA_PAGES exists with or without CONFIG_CMA
        "nr_free_cma": r.read(f"{where} free CMA pages", lambda: stat(ids.free_cma)),
    }


def _ints(array: drgn.Object) -> list[int]:
    return [int(v) for v in array.read_()]


def memcgs(r: Reader) -> list[dict[str, Any]] | None:
    """Every online memcg below root_mem_cgroup, in pre-order: v2, or the v1 memory hierarchy
    (the page counter holds the v1 limit too: mem_cgroup_resize_max())."""
    from drgn.helpers.linux.cgroup import css_for_each_descendant_pre

    prog = r.prog
    root = r.read("root_mem_cgroup", lambda: prog["root_mem_cgroup"].read_())
    if root is None:
        return None
    if not root:
        r.note("root_mem_cgroup: NULL (memory controller disabled)")
        return None
    online = r.constant("CSS_ONLINE")
    oom_kill = r.constant("MEMCG_OOM_KILL")
    page_size = r.read("PAGE_SIZE", lambda: int(prog["PAGE_SIZE"].value_())) or 4096
    # include/linux/page_counter.h: PAGE_COUNTER_MAX is "max", LONG_MAX / PAGE_SIZE on 64-bit
    unlimited = ((1 << (8 * prog.type("long").size - 1)) - 1) // page_size
    top = root.css.address_of_()
    css_list = r.read("the memcg tree", lambda: list(css_for_each_descendant_pre(top)))
    out = []
    for css in css_list or []:
        # a dying memcg (offlined, not yet freed) is not one of the cgroups users see
        if online is not None and not int(css.flags) & online:
            continue
        row = r.read("a memcg", _memcg, r, css, oom_kill, unlimited)
        if row is not None:
            out.append(row)
    return out


def _memcg(r: Reader, css: drgn.Object, oom_kill: int | None, unlimited: int) -> dict[str, Any]:
    from drgn import container_of
    from drgn.helpers.linux.cgroup import cgroup_path

    memcg = container_of(css, "struct mem_cgroup", "css")
    path = bytes(cgroup_path(css.cgroup)).decode("utf-8", errors="replace") or "/"

    def limit() -> int | None:
        value = int(memcg.memory.max)
        return None if value >= unlimited else value

    def kills() -> int | None:
        return None if oom_kill is None else int(memcg.memory_events[oom_kill].counter)

    return {
        "path": path,
        "usage_pages": r.read(f"memcg {path} usage", lambda: int(memcg.memory.usage.counter)),
        "limit_pages": r.read(f"memcg {path} limit", limit),
        "oom_kill": r.read(f"memcg {path} oom_kill", kills),
    }
