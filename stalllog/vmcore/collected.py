"""The collector's output: one JSON document per vmcore (format `stalllog-vmcore`, version 1).

`stalllog vmcore` is split in two so that the analysis is tested without drgn or a dump:

- `collect.py` (needs drgn, the `vmcore` extra) reads a vmcore (or `/proc/kcore`) with its
  vmlinux and returns this document: plain facts read from kernel memory, no interpretation;
- the analysis side turns the document into tables and the clue, and runs the analyzers on them.

The committed test fixtures (`tests/vmcore/*.json.xz`) are such documents, extracted once from
real dumps. Every key below is always present; a value the collector could not read is `null`
(and the reason is appended to `errors`), never a guess.

```
{
  "format": "stalllog-vmcore", "version": 1,
  "collector": {"drgn": "0.3.0", "stalllog": "<version>"},
  "kernel": {
    "release": "6.1.0-56-amd64",            # init_uts_ns.name.release
    "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (...)",
    "machine": "x86_64", "hostname": "...", # untrusted text: redacted by the clue
    "hz": 250, "page_size": 4096, "nr_cpus": 2, # online CPUs
    "cmdline": "..."                        # saved_command_line
  },
  "dump": {
    "file": "vmcore",                       # basename only ("kcore" for the running kernel)
    "uptime_ns": 123456789,                 # the largest per-CPU rq clock: "now" of the dump
    "panic": false                          # a panic/crash dump (kdump) rather than a live dump
  },
  "tasks": [{                               # every thread, idle tasks (pid 0 per CPU) left out
    "pid": 1, "tgid": 1, "ppid": 0, "comm": "init",
    "state": "S",                           # task_state_to_char(): R S D T t X Z P I
    "flags": 4194560,                       # task->flags (PF_*)
    "cpu": 0, "on_cpu": false,              # task_cpu(); running on a CPU at dump time
    "last_arrival_ns": 1234,                # sched_info.last_arrival (rq clock), null if absent
    "since_ran_s": 12.5,                    # uptime_ns - last_arrival_ns, in seconds (>= 0)
    "memcg": "/system.slice/x.service",     # cgroup v2 path of the task's memcg, null if none
    "rss_pages": 1234,                      # MM_FILEPAGES+MM_ANONPAGES+MM_SHMEMPAGES, null: kthread
    "memalloc": null,                       # kmallocwd kernels: {"gfp": int, "order": int,
                                            #   "seq": int, "start_jiffies": int} while an
                                            #   allocation is in flight; else null
    "stack": [{"function": "__schedule",    # kernel frames, innermost first (up to the first
                                            #   pc outside vmlinux and the loaded modules), as
                                            #   drgn names them: the source function
               "offset": 1234,              # pc - the ELF symbol's start, null: no symbol
               "module": null,              # loadable module's name, null: vmlinux
               "pc": 18446744071579148288,
               "inline": false}],           # an inlined function: same pc and offset as the
                                            #   frame after it (the console prints only that one)
    "stack_error": null                     # why the stack could not be read, else null
  }],
  "oom_lock": {
    "owner_pid": 123,                       # mutex owner field of oom_lock (flag bits masked),
                                            #   null when unlocked
    "waiters": [456, 789]                   # pids on oom_lock.wait_list, in queue order
  },
  "printk": [{                              # the whole log ring, oldest first
    "seq": 0, "ts_nsec": 0, "level": 5, "facility": 0,
    "caller": "T1",                         # "T<pid>" / "C<cpu>", null when not recorded
    "continuation": false,                  # LOG_CONT set on the record
    "text": "Linux version ...",            # may hold newlines (multi-line records)
    "dict": {"SUBSYSTEM": "..."}            # dev_printk_info, {} when none
  }],
  "zones": [{                               # every populated zone of every node
    "node": 0, "zone": "DMA32", "free_pages": 1234,
    "min": 1, "low": 2, "high": 3,          # _watermark[] + watermark_boost is "boost"
    "boost": 0, "present_pages": 1, "managed_pages": 1, "spanned_pages": 1,
    "lowmem_reserve": [0, 0, 0, 0], "nr_free_cma": 0
  }],
  "vmstat": {"nr_free_pages": 1, "allocstall_normal": 0, "oom_kill": 3, ...},
                                            # vm_zone_stat + vm_node_stat + vm_numa_event (by
                                            #   the kernel's enum names, lower case) and the
                                            #   per-CPU vm_event_states summed
  "memcg": [{"path": "/", "usage_pages": 1, "limit_pages": null, "oom_kill": 0}],
                                            # limit null = "max"
  "errors": ["where reading failed, one sentence each"]
}
```
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMAT", "VERSION", "check_document"]

FORMAT = "stalllog-vmcore"
VERSION = 1
_TOP_KEYS = ("kernel", "dump", "tasks", "oom_lock", "printk", "zones", "vmstat", "memcg", "errors")


def check_document(doc: Any) -> dict[str, Any]:
    """The document itself when it is a collector output this version reads; ValueError with
    the reason otherwise (a stranger's file: never trusted to have the right shape)."""
    if not isinstance(doc, dict):
        raise ValueError("not a stalllog-vmcore document (expected a JSON object)")
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document (format: {str(doc.get('format'))[:40]!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"{FORMAT} version {str(doc.get('version'))[:20]!r} is not {VERSION}")
    missing = [k for k in _TOP_KEYS if k not in doc]
    if missing:
        raise ValueError(f"{FORMAT} document lacks {', '.join(missing)}")
    return doc
