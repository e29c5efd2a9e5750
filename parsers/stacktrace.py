"""Call traces (show_stack / dump_stack / show_regs) of every architecture, as `frames` rows.

Other families embed traces: on a trace's first line (`is_trace_start`) they create a
`CallTrace` sub-parser and route lines to it until it answers END. Traces no family owns (a
`Call Trace:` or dump_stack header outside any block) are `orphan_trace` events here.

Frame shapes (FORMATS-stalls.md §6):

* x86 <= 4.10: `" [<%p>] %s%pB\\n"` (` [<ffffffff81672d1a>] ? schedule+0x3a/0x90`); IRQ and
  exception stacks are marked inline (` <IRQ>  [<…>] …`, ` <EOI>  [<…>] …`), raw stack words
  (4 per line, `kstack_depth_to_print`) may precede `Call Trace:`.
* x86 4.11+ (printk_stack_address in arch/x86/kernel/dumpstack.c after the unwinder rework,
  v4.11): `"%s %s%pB\\n"` (` __schedule+0x336/0xe00`); stack markers on their own lines
  (` <IRQ>` … ` </IRQ>`, ` <NMI>`, ` <#DF>`), 5.16+ ` <TASK>` … ` </TASK>` around the task
  stack, ` <SOFTIRQ>`.
* syzbot symbolization appends ` file.c:123` and adds `func file.c:12 [inline]` rows;
  decode_stacktrace.sh turns `+0x…/0x…` into ` (file.c:123 …)` (parsers/decoded_frames.py).
* arm64: `Call trace:`; <= 4.16 `[<ffffff80080889a8>] dump_backtrace+0x0/0x1a0`, later
  ` dump_backtrace+0x0/0x1d8`; 6.14+ may append ` (P)` / ` (L)` (where the pc came from).
* arm32: `[<c010badc>] (dump_backtrace) from [<c010bc7c>] (show_stack+0x18/0x1c)`.
* powerpc: `[c0000018ee85fa50] [c000000000b88300] .func+0x50/0x80 (unreliable)`; ELFv1 dot
  symbols; `--- interrupt: 901 at …` marks an exception frame.
* Register dumps (x86 `RIP:`…`PKRU:`, `Code:`; arm64 `pc :`, `x29:`; ppc `NIP:`, `GPR00:`) are
  part of the trace: the `RIP`/`pc`/`NIP` function is kept in `stacks.ip_function`.
"""

from __future__ import annotations

import re
from typing import Any

import regex

from . import base
from .base import Block, Family, Feed, Line, Sink, SubParser
from .decoded_frames import decoded_frame
from .stack_tables import FRAMES, STACKS

__all__ = [
    "FRAMES",
    "STACKS",
    "CallTrace",
    "is_dump_stack_extra",
    "is_dump_stack_header",
    "is_frame_line",
    "is_register_line",
    "is_stack_words",
    "is_trace_start",
    "normalize_symbol",
    "parse_dump_stack_header",
    "parse_frame",
]

_HEX = r"[0-9a-fA-F]"
_SYM = r"[A-Za-z_.$][\w.$@~-]*"  # kernel symbol; ppc64 ELFv1 dot symbols; clang `.llvm.N`
_OFF = rf"\+0x(?P<offset>{_HEX}+)/0x(?P<size>{_HEX}+)"
_MOD = r"(?: \[(?P<module>[\w-]+)(?: [^\]]*)?\])?"  # ` [xfs]`, 6.x ` [nf_tables 1a2b…]` build id
# syzbot: ` lib/dump_stack.c:77 [inline]`; decode_stacktrace.sh: ` (lib/dump_stack.c:77)`
_SRC = r"(?: \(?(?P<src>[\w./+-]+\.(?:[chS]|rs):\d+)(?: \(discriminator \d+\))?\)?)?"
_INLINE = r"(?P<inline> \[inline\])?"
_TAIL = rf"{_MOD}{_SRC}{_INLINE}(?: \((?P<marker>[A-Z])\))?(?P<unrel> \(unreliable\))?\s*$"

# frame with offsets, or a symbolized/inline row without offsets
_FUNC_FRAME = rf"(?P<q>\? )?(?P<func>{_SYM}|0x{_HEX}+)(?:{_OFF})?{_TAIL}"
_X86_OLD = regex.compile(rf"^\s*(?:<(?P<ctx>[A-Z#]+)>\s+)?\[<(?P<addr>{_HEX}+)>\]\s+{_FUNC_FRAME}")
_PPC = regex.compile(rf"^\s*\[(?P<sp>{_HEX}{{8,16}})\] \[(?P<addr>{_HEX}{{8,16}})\] {_FUNC_FRAME}")
_ARM32 = regex.compile(
    rf"^\s*\[<(?P<addr>{_HEX}+)>\] \((?P<func>{_SYM})(?:{_OFF})?\)"
    rf"(?: from \[<{_HEX}+>\] \([^)]*\))?{_MOD}\s*$"
)
# arm32 without CONFIG_BACKTRACE_VERBOSE (arch/arm/kernel/traps.c dump_backtrace_entry:
# "%s %ps from %pS\n"): ` unwind_backtrace from show_stack+0x18/0x1c`; the frame is the first
# symbol, the second is where it returns to.
_ARM32_FROM = regex.compile(rf"^\s*(?P<func>{_SYM}) from {_SYM}\+0x{_HEX}+/0x{_HEX}+{_MOD}\s*$")
_PLAIN = regex.compile(rf"^\s*{_FUNC_FRAME}")
_MAX_FOREIGN = 3  # foreign lines skipped between `Call Trace:` and the first frame
# ` <IRQ>  [<ffffffff802b6e2e>] ` with the symbol wrapped onto the next line (mail, terminals)
_ADDR_ONLY = re.compile(r"^\s*(?:<([A-Z#]+)>\s+)?\[<([0-9a-f]+)>\]\s*(\? )?$")
_MARKER = regex.compile(r"^\s*<(?P<close>/)?(?P<ctx>[A-Z#][A-Z0-9_#]*)>\s*$")
_PPC_EXC = regex.compile(r"^\s*--- interrupt: (?P<vec>\w+)")
_WORD = rf"(?:{_HEX}{{16}}|{_HEX}{{8}})"
_STACK_WORDS = regex.compile(rf"^\s*(?:<[A-Z]+>\s+)?{_WORD}(?: +(?:{_WORD}|\(null\)))*\s*$")
_TRACE_HEADER = regex.compile(
    r"^\s*(?:Call [Tt]race:|Backtrace:|Stack:|Exception stack\(|Code:|Instruction dump:)"
)
# register dump lines of show_regs / __show_regs (x86-64, i386, arm64, powerpc)
_REGS = regex.compile(
    r"^\s*(?:(?:RIP|EIP|RSP|ESP|RAX|EAX|RBX|RCX|RDX|RSI|RDI|RBP|EBP|ESI|R\d\d|FS|GS|CS|DS|ES|SS"
    r"|CR0|CR2|DR0|DR3|DR6|PKRU|EFLAGS|ORIG_RAX):"
    r"|pc : |lr : |sp : |pstate: |x\d\d?: "
    r"|(?:NIP|LR|CTR|REGS|MSR|CFAR|DAR|DSISR|IRQMASK|GPR\d\d|TRAP|SOFTE):"
    # ppc prints `    LR = func+0x…` after a `--- interrupt:` frame
    r"|NIP \[|LR \[|RIP  \[|(?:EIP|PC|LR) is at |LR = "
    # x86 show_regs 3.x-4.13: `task: ffff88003e6a0000 ti: ffff88003e6ac000 task.ti: …`,
    # later `task: ffff8800… task.stack: ffffc900…`
    r"|task: [0-9a-f]+ (?:ti|task\.stack): )"
)
_IP = regex.compile(
    rf"^\s*(?:RIP|EIP):? +(?:{_HEX}{{4}}:)?(?:\[<{_HEX}+>\]\s+)*(?P<func>{_SYM})\+0x"
    rf"|^\s*(?:EIP|PC) is at (?P<func>{_SYM})\+0x"
    rf"|^\s*pc : (?:\[<{_HEX}+>\] )?(?P<func>{_SYM})\+0x"
    rf"|^\s*NIP \[{_HEX}+\] (?P<func>{_SYM})\+0x"
)

# lib/dump_stack.c dump_stack_print_info(): 3.10+ `CPU: %d PID: %d Comm: %.20s %s%s %s %.*s`;
# 6.11 inserts ` UID: %u`; <= 3.9 x86 `Pid: %d, comm: %.20s %s %s %.*s` (FORMATS-stalls.md §6).
_DUMP_HDR = regex.compile(
    r"^CPU: (?P<cpu>\d+) (?:UID: (?P<uid>\d+) )?PID: (?P<pid>\d+) Comm: (?P<comm>.{1,20}?) "
    r"(?P<taint>Not tainted|Tainted: [A-Z ]*?) +(?P<release>\S+) (?P<version>#\S+)"
    r"|^Pid: (?P<pid>\d+), comm: (?P<comm>.{1,20}?) (?P<taint>Not tainted|Tainted: [A-Z ]*?) +"
    r"(?P<release>\S+) (?P<version>#\S+)"
)
_HW = regex.compile(r"^Hardware name: ")

_SUFFIX = regex.compile(r"\.(?:constprop|isra|part|cold|llvm|lto_priv|localalias)(?:\.\w+)*$")

_CONTEXT = {
    "IRQ": "irq",
    "EOI": "task",  # <= 4.10: end of the IRQ stack, back on the task stack
    "SOFTIRQ": "softirq",
    "NMI": "nmi",
    "EOE": "task",  # <= 4.10: end of an exception stack
    "TASK": "task",
}


@base.text_memo(65536)  # a storm prints the same functions over and over
def normalize_symbol(func: str) -> str:
    """`__slab_alloc.isra.61.constprop.63` -> `__slab_alloc`; `__alloc_pages_noprof` ->
    `__alloc_pages` (6.10 allocation profiling); ppc64 ELFv1 `.dump_stack` -> `dump_stack`."""
    if func.startswith(".") and len(func) > 1:
        func = func[1:]
    func = _SUFFIX.sub("", func)
    if func.endswith("_noprof"):
        func = func[: -len("_noprof")]
    return func


def is_trace_start(text: str) -> bool:
    """A line that opens a call trace: `Call Trace:`/`Call trace:`/`Backtrace:`/`Stack:`, a
    stack marker (` <TASK>`, ` <IRQ>`), or a first frame in the `[<addr>]` or ppc64 form."""
    if _TRACE_HEADER.match(text) is not None or _MARKER.match(text) is not None:
        return True
    s = text.lstrip()
    if s.startswith("[<") or (s.startswith("<") and "[<" in s):
        return _X86_OLD.match(text) is not None or _ARM32.match(text) is not None
    if " from " in s:
        return _ARM32_FROM.match(text) is not None
    return s.startswith("[") and _PPC.match(text) is not None


def is_frame_line(text: str) -> bool:
    """A frame of any supported shape (not markers, registers or stack words)."""
    return parse_frame(text) is not None


def is_stack_words(text: str) -> bool:
    """Raw stack words (<= 4.10, `kstack_depth_to_print`), 4 or 8 hex words per line."""
    return _STACK_WORDS.match(text) is not None


def is_dump_stack_header(text: str) -> bool:
    """`CPU: 0 PID: 1 Comm: x Not tainted 6.1.0 #1`, the 6.11+ `UID:` form, the <= 3.9
    `Pid: 0, comm: swapper Not tainted …` form, or `Hardware name: …`."""
    if text.startswith("CPU: "):
        return " PID: " in text and " Comm: " in text
    return (text.startswith("Pid: ") and ", comm: " in text) or _HW.match(text) is not None


def is_dump_stack_extra(text: str) -> bool:
    """Lines dump_stack_print_info() prints after the `CPU:` line: `Hardware name:`,
    `Workqueue: <wq> <func>` (print_worker_info) and, ≈6.12+, `Tainted: [W]=WARN`
    (print_tainted_verbose)."""
    return text.startswith(("Hardware name: ", "Workqueue: ", "Tainted: ["))


def parse_dump_stack_header(text: str) -> dict[str, Any] | None:
    """Fields of a dump_stack header line: cpu (None for the <= 3.9 form), uid, pid, comm,
    tainted (taint letters without the padding, "" when not tainted), release. None if `text`
    is not one."""
    m = _DUMP_HDR.match(text)
    if m is None:
        return None
    taint = m["taint"]
    return {
        "cpu": int(m["cpu"]) if m["cpu"] else None,
        "uid": int(m["uid"]) if m["uid"] else None,
        "pid": int(m["pid"]),
        "comm": m["comm"],
        "tainted": "" if taint == "Not tainted" else "".join(taint[len("Tainted:") :].split()),
        "release": m["release"],
    }


# Fast path for the two commonest shapes (` ? func+0x1/0x2 [mod]`, ` [<addr>] ? func+0x1/0x2`):
# `re` and positional groups; everything else goes through the full patterns below.
_FAST = re.compile(
    r"^\s*(?:\[<([0-9a-f]+)>\] )?(\? )?([A-Za-z_.$][\w.$]*)\+0x([0-9a-f]+)/0x([0-9a-f]+)"
    r"(?: \[([\w-]+)\])?\s*$"
)


def parse_frame(text: str) -> dict[str, Any] | None:
    """One frame line -> {function, symbol, offset, size, module, reliable, address, src,
    inlined, ctx (an inline <= 4.10 marker such as `IRQ`, else None)}; None if not a frame."""
    return None if (frame := _parse_frame(text)) is None else dict(frame)  # a copy: to change


@base.text_memo(16384)  # memoized: in a storm the same frames repeat in thousands of traces
def _parse_frame(text: str) -> dict[str, Any] | None:
    f = _FAST.match(text)
    if f is not None:
        addr, q, func, off, size, mod = f.groups()
        return {
            "function": func,
            "symbol": normalize_symbol(func),
            "offset": int(off, 16),
            "size": int(size, 16),
            "module": mod,
            "reliable": q is None,
            "address": int(addr, 16) if addr else None,
            "src": None,
            "inlined": False,
            "ctx": None,
        }
    s = text.lstrip()
    if not s:
        return None
    m = None
    if s.startswith("[<") or s.startswith("<"):
        m = _X86_OLD.match(text) or _ARM32.match(text)
    elif s.startswith("["):
        m = _PPC.match(text)
    elif " from " in s and (m := _ARM32_FROM.match(text)) is not None:
        pass
    else:
        m = _PLAIN.match(text)
        # a bare word is only a frame with an offset or a source location
        if m is not None and m["offset"] is None and m["src"] is None:
            return None
    if m is None:
        return decoded_frame(text, normalize_symbol)
    gd = m.groupdict()
    func = gd["func"]
    addr = gd.get("addr")
    return {
        "function": func,
        "symbol": normalize_symbol(func) if not func.startswith("0x") else None,
        "offset": int(gd["offset"], 16) if gd.get("offset") else None,
        "size": int(gd["size"], 16) if gd.get("size") else None,
        "module": gd.get("module"),
        "reliable": not (gd.get("q") or gd.get("unrel")),
        "address": int(addr, 16) if addr else None,
        "src": gd.get("src"),
        "inlined": bool(gd.get("inline")),
        "ctx": gd.get("ctx"),
    }


def is_register_line(text: str) -> bool:
    """A register-dump line of show_regs (x86 `RIP:`…`PKRU:`, arm64 `pc :`/`x29:`/`pstate:`,
    powerpc `NIP:`/`GPR00:`); such lines belong to the trace they precede or follow."""
    return _REGS.match(text) is not None


class CallTrace(SubParser):
    """A call trace nested in `owner`'s block.

    Create it on the trace's first line (one for which `is_trace_start`, `is_dump_stack_header`
    is false but a frame, marker, register or stack-word line is; any of these may open it),
    then feed it each following line until it answers END. `stack_id` is set at construction;
    pass the owner's tasks-row dict as `task_row` (before writing it) to get its `stack_id`
    filled in. `context` is the stack the trace starts on when the owner knows it ("task" for
    sched_show_task), otherwise frames before any marker get a null context.
    """

    tables = (FRAMES, STACKS)

    def __init__(
        self,
        owner: Block,
        first: Line,
        *,
        pid: int | None = None,
        comm: str | None = None,
        task_row: dict[str, Any] | None = None,
        context: str | None = None,
        fragment: bool = False,
    ) -> None:
        super().__init__(owner, first)
        self.fragment = fragment
        self.stack_id = owner.next_id("stack")
        self.pid = pid
        self.comm = comm
        if task_row is not None:
            task_row["stack_id"] = self.stack_id
        self.context = context
        self._frames: list[dict[str, Any]] = []
        self.n_unreliable = 0
        self.ip_function: str | None = None
        self.last_line_no = first.line_no
        self.dropped = False
        self.n_lines = 0
        self.n_foreign = 0
        self.n_skipped_in_row = 0
        self._wrapped: tuple[Line, int, bool] | None = None  # line, address, reliable
        self._take(first)

    def feed(self, line: Line) -> Feed:
        if self._take(line):
            self.n_skipped_in_row = 0
            return Feed.TAKE
        # A fragment (frames with no `Call Trace:` before them) in a console without caller
        # ids is usually another CPU's lines alternating with ours (syzkaller/198): keep
        # going over a few. Blank lines and lockdep's `-> #N (lock){…}:` chain heads end it:
        # lockdep splats print their dependency chains as header-less traces.
        if (
            self.fragment
            and line.caller is None
            and self.n_skipped_in_row < _MAX_FOREIGN
            and line.text.strip()
            and not line.text.lstrip().startswith("-> #")
        ):
            self.n_skipped_in_row += 1
            return Feed.SKIP
        # Without caller ids another CPU's line can land right after `Call Trace:`
        # (syzkaller/198: `kasan: CONFIG_KASAN_INLINE enabled`); before any frame that is
        # more likely than an empty trace, so a few such lines are skipped.
        if (
            line.caller is None
            and not self._frames
            and self.ip_function is None
            and self.n_foreign < _MAX_FOREIGN
            and line.text.strip()
        ):
            self.n_foreign += 1
            return Feed.SKIP
        self._flush_wrapped()
        return Feed.END

    def _take(self, line: Line) -> bool:
        text = line.text
        frame = _parse_frame(text)  # the memoized dict, shared: never changed here
        if frame is None:
            s = text.lstrip()
            if not s:
                return False
            w = _ADDR_ONLY.match(text)
            if w is not None:
                self._flush_wrapped()
                if w.group(1):
                    self.context = _CONTEXT.get(w.group(1), "exception")
                self._wrapped = (line, int(w.group(2), 16), w.group(3) is None)
            elif not self._other(text, s):
                return False
        elif self._wrapped is not None and frame["address"] is None:
            wline, addr, reliable = self._wrapped
            self._wrapped = None
            frame = {**frame, "address": addr, "reliable": frame["reliable"] and reliable}
            self._add_raw(f"{wline.text.strip()} {text.lstrip()}", frame, wline.line_no)
        else:
            if self._wrapped is not None:
                self._flush_wrapped()
            self._add_raw(text, frame, line.line_no)
        if line.dropped:
            self.dropped = True
        self.last_line_no = line.line_no
        self.n_lines += 1
        return True

    def _other(self, text: str, s: str) -> bool:
        """Non-frame lines of a trace: markers, headers, registers, stack words."""
        m = _MARKER.match(text)
        if m is not None:
            ctx = m["ctx"]
            if m["close"]:
                # `</IRQ>` returns to the interrupted stack: the task's, as far as we know
                self.context = "task" if ctx != "TASK" else None
            else:
                self.context = _CONTEXT.get(ctx, "exception")
            return True
        if _TRACE_HEADER.match(text) is not None:
            if self._frames and s.startswith(("Call Trace:", "Call trace:")):
                return False  # a second `Call Trace:` after frames starts another trace
            rest = s.split(":", 1)[1] if ":" in s else ""
            if rest.strip() and not s.startswith(("Code:", "Exception stack(")):
                # 2.6-era `Call Trace: [<…>] func+…` on one line
                frame = parse_frame(rest)
                if frame is not None:
                    self._add_raw(rest, frame)
            return True
        if is_register_line(text):
            if self.ip_function is None:
                ip = _IP.match(text)
                if ip is not None:
                    self.ip_function = normalize_symbol(ip["func"])
            return True
        if _PPC_EXC.match(text) is not None:
            self.context = "exception"
            return True
        return _STACK_WORDS.match(text) is not None

    def _flush_wrapped(self) -> None:
        """An address-only frame whose symbol never came: keep it as a bare address."""
        if self._wrapped is None:
            return
        wline, addr, reliable = self._wrapped
        self._wrapped = None
        frame = {"function": f"0x{addr:x}", "symbol": None, "offset": None, "size": None,
                 "module": None, "reliable": reliable, "address": addr, "src": None,
                 "inlined": False, "ctx": None}  # fmt: skip
        self._add_raw(wline.text, frame, wline.line_no)

    def _add_raw(self, raw: str, frame: dict[str, Any], line_no: int | None = None) -> None:
        ctx = frame["ctx"]
        if ctx is not None:
            self.context = _CONTEXT.get(ctx, "exception")
        if not frame["reliable"]:
            self.n_unreliable += 1
        row = {**frame, "stack_id": self.stack_id, "depth": len(self._frames),
               "context": self.context,
               "line_no": self.first.line_no if line_no is None else line_no,
               "raw": raw.strip()}  # fmt: skip
        del row["ctx"]  # from a new dict: `frame` may be the memoized one, shared
        self._frames.append(row)

    def finish(self, cut: str | None) -> None:
        self._flush_wrapped()
        # a trace at the end of a complete input just ended there; any other cut (a block
        # started inside it, a truncated file) leaves it incomplete
        truncated = self.dropped or (
            cut is not None and (cut == _TRUNC or not cut.startswith("end of input"))
        )
        problem = None
        if self.dropped:
            problem = "printk messages dropped inside the trace"
        elif truncated:
            problem = f"trace cut: {cut}"
        elif not self._frames and self.ip_function is None:
            problem = "trace without frames"
        if problem is not None:
            self.problems.append(problem)
        elif self.fragment:
            # noted on the stack only: a lockdep chain is complete without a header
            problem = "no `Call Trace:` line before the frames"
        for f in self._frames:  # each built here for its row: handed over, not copied
            self.owner.add_row("frames", f)
        self.owner.row(
            "stacks",
            stack_id=self.stack_id,
            pid=self.pid,
            comm=self.comm,
            line_start=self.first.line_no,
            line_end=self.last_line_no,
            n_frames=len(self._frames),
            n_unreliable=self.n_unreliable,
            ip_function=self.ip_function,
            truncated=truncated,
            problem=problem,
        )

    @property
    def n_frames(self) -> int:
        return len(self._frames)


_TRUNC = "end of input (truncated capture)"


class OrphanTraceBlock(Block):
    """A dump_stack header and/or call trace that no other family's block claimed."""

    kind = "orphan_trace"

    def __init__(
        self,
        first: Line,
        event_id: int,
        sink: Sink,
        header: dict[str, Any] | None,
        fragment: bool = False,
    ):
        super().__init__(first, event_id, sink)
        self.trace: CallTrace | None = None
        if header is not None:
            self.pid, self.comm = header["pid"], header["comm"]
        else:
            # `fragment`: frames with no `Call Trace:` line, the rest of a trace whose start
            # was lost or cut off by another CPU's lines, or a lockdep dependency chain
            self.trace = CallTrace(self, first, fragment=fragment)

    def feed(self, line: Line) -> Feed:
        if self.trace is not None:
            verdict = self.trace.feed(line)
            if verdict is Feed.TAKE:
                self.complete = self.complete or self.trace.n_frames > 0
            return verdict
        text = line.text
        if is_dump_stack_extra(text):
            return Feed.TAKE
        s = text.lstrip()
        if s and (
            is_trace_start(text)
            or is_register_line(text)
            or is_stack_words(text)
            or parse_frame(text) is not None
        ):
            self.trace = CallTrace(self, line, pid=self.pid, comm=self.comm)
            return Feed.TAKE
        return Feed.END

    def finish(self, cut: str | None) -> None:
        if self.trace is not None:
            self.trace.finish(cut)
            self.problems.extend(self.trace.problems)
            self.complete = True
        super().finish(cut)


class StackFamily(Family):
    """Traces outside any other block (and the home of the `frames`/`stacks` schemas)."""

    name = "stacktrace"
    priority = 900  # every other family gets a trigger line first
    triggers = ("Call Trace:", "Call trace:", " Comm: ", ", comm: ", "+0x")
    pattern = regex.compile(
        r"^\s*Call [Tt]race:|^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: |^Pid: \d+, comm: "
        r"|^\s*(?:<[A-Z]+>\s+)?(?:\[<[0-9a-f]+>\] )?(?:\? )?[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x"
    )
    tables = (FRAMES, STACKS)

    def start(self, line: Line, match: regex.Match[str], event_id: int, sink: Sink) -> Block | None:
        head = match.group().lstrip()
        if head.startswith("Call"):
            return OrphanTraceBlock(line, event_id, sink, None)
        if head.startswith(("CPU: ", "Pid: ")):
            header = parse_dump_stack_header(line.text)
            return None if header is None else OrphanTraceBlock(line, event_id, sink, header)
        if parse_frame(line.text) is None:
            return None
        return OrphanTraceBlock(line, event_id, sink, None, fragment=True)
