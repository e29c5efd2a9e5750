"""stalled_tasks, episodes and reclaim on the real samples (rules; expert facts are in
tests/analyze_cases/episodes/)."""

from __future__ import annotations

import re
import time
from functools import cache

import pandas as pd
import pytest
from conftest import ROOT, sample_files, sample_id

import stalllog
from stalllog.analyze.classify import STUCK_CLASSES, classify_stacks
from stalllog.analyze.reclaim import SCHEMA as RECLAIM_SCHEMA
from stalllog.analyze.reclaim import reclaim
from stalllog.analyze.stalls import OUTCOMES, SCHEMA, episodes, infer_hz, stalled_tasks

LKML = "sample_logs/corpus/lkml/"
POSTED = "sample_logs/corpus/posted/"
TOO_MANY = LKML + "kmallocwd-2017-too_many_isolated-congestion_wait.txt"
TASKS_186 = LKML + "kmallocwd-2017-wq-mem-reclaim-186-tasks-list.txt"
PRINTK_49 = LKML + "printk-dropped-4.9-stalls-after-oom-short.txt"
INTERLEAVED = LKML + "interleaved-4.6.2-ext4-dmcrypt-allocfail-hungtask-wqlockup.txt"
HUNG_STALL = LKML + "hungtask-stall-4.12-sle15-khugepaged-order9-numa-ksmtuned.txt"
SYSRQ_T_414 = POSTED + "kmallocwd-4.14-S-sysrq-t-memalloc-after-taskline.txt"
D1 = POSTED + "kmallocwd-next-20160209-D1-too_many_isolated-185-stalling.txt"
D2 = POSTED + "kmallocwd-next-20160209-D2-header-comma-zone-isolated.txt"
QEMU_HUNG = "sample_logs/qemu/6.1.0-56-amd64-hung-task-serial.log"


def _tables(cap: stalllog.Capture) -> dict[str, pd.DataFrame]:
    # what analyze() hands the analyzers: no `lines`/`unparsed`
    return {name: cap[name] for name in cap.arrow if name not in {"lines", "unparsed"}}


@cache
def _run(sample: str, hz: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tables = _tables(stalllog.parse(ROOT / sample))
    st = stalled_tasks(tables, classify_stacks(tables), hz)
    ep = episodes(tables, st)
    return st, ep, reclaim(tables, st, ep)


def _check_schema(df: pd.DataFrame, schema: list[tuple[str, str, str, str]]) -> None:
    assert list(df.columns) == [c for c, _, _, _ in schema]
    for c, dtype, _, _ in schema:
        assert str(df[c].dtype) == dtype, (c, df[c].dtype, dtype)


# ---------------------------------------------------------------------------------------------
# HZ


def test_hz_inferred_from_same_seq_across_scans() -> None:
    # kworker/2:0(27) seq=21: delay 74621 at 518.32 s, 652160 at 1095.63 s -> 1000.4 jiffies/s
    st, _, _ = _run(TASKS_186)
    assert set(st["hz_used"]) == {1000}
    assert set(st["hz_source"]) == {"inferred"}
    row = st[st["pid"] == 27].iloc[0]
    assert row["attempt"] == 21 and row["n_reports"] == 2
    assert row["max_delay_s"] == pytest.approx(652.160)
    assert row["progress"] == "none"
    assert row["switches_first"] == 14350 and row["switches_last"] == 38727


def test_hz_argument_when_not_inferable() -> None:
    # D1 lists each task once: nothing to infer from; the argument is used and says so
    cap = stalllog.parse(ROOT / D1)
    assert infer_hz(cap["memalloc"]).empty
    st, _, _ = _run(D1, 250)
    assert set(st["hz_source"]) == {"argument"}
    systemd = st[st["pid"] == 1].iloc[0]
    assert systemd["max_delay_s"] == pytest.approx(110660 / 250)
    st_none, _, _ = _run(D1)
    assert st_none["hz_used"].isna().all() and st_none["max_delay_s"].isna().all()


def test_inferred_hz_beats_argument() -> None:
    st, _, _ = _run(TASKS_186, 250)
    assert set(st["hz_used"]) == {1000}


# ---------------------------------------------------------------------------------------------
# stalled_tasks


def test_same_seq_is_one_attempt_and_one_episode() -> None:
    # a.out(1976) seq=142 reported at 222.2 s (delay 175646) and 406.4 s (delay 359866): one
    # allocation, stalled since ~46.6 s, never completed; the 184 s between the two SysRq-t
    # dumps does not split it
    st, ep, _ = _run(SYSRQ_T_414)
    assert len(st) == 1
    row = st.iloc[0]
    assert row["n_reports"] == 2 and row["progress"] == "none"
    assert row["began_ts"] == pytest.approx(46.55, abs=0.01)
    assert len(ep) == 1 and ep.iloc[0]["outcome"] == "stalled_at_end"
    # tied between direct_reclaim (222 s) and throttled (406 s): the more specific class wins
    assert row["stuck_in"] == "throttled"


def test_kswapd_listed_without_allocation() -> None:
    st, _, _ = _run(TOO_MANY)
    k = st[st["kswapd"]]
    assert k["pid"].tolist() == [67]
    assert k["attempt"].isna().all()
    assert (st.loc[~st["kswapd"], "attempt"].notna()).all()


def test_non_stalling_exiting_lines_are_not_tasks() -> None:
    # D1 lists 75 exiting/dying tasks without an allocation (`a.out(4100) uninterruptible
    # exiting`): not stalled allocations
    st, _, _ = _run(D1)
    assert len(st) == 185
    assert 4100 not in set(st["pid"])


def test_warn_alloc_attempts_by_start_time() -> None:
    # printk-dropped-4.9: pid not printed; a.out at 122.4 s (10 s stall) and a.out at
    # 354.3/394.3/424.3 s (20/60/90 s, same start 334.2 s) are two allocations
    st, _, _ = _run(PRINTK_49)
    a = st[st["comm"] == "a.out"].sort_values("run")
    assert a["run"].tolist() == [1, 2]
    assert a["n_reports"].tolist() == [1, 3]
    assert a["began_ts"].tolist() == pytest.approx([112.394, 334.195], abs=0.01)
    assert a["pid"].isna().all()


def test_task_dump_in_allocator_and_hung_tasks_join_episode() -> None:
    # interleaved-4.6.2: SysRq-w tasks in D with allocator traces, then hung tasks waiting on
    # page locks (no allocator frame) 40 s later: one episode with both
    st, ep, rc = _run(INTERLEAVED)
    dump = st[st["source"] == "task_dump"]
    assert len(dump) == 5 and dump["in_allocator"].all() and (dump["state"] == "D").all()
    hung = st[st["source"] == "hung_task"]
    assert len(hung) == 3 and not hung["in_allocator"].any()
    assert set(st["episode"]) == {0}
    assert len(ep) == 1
    e = ep.iloc[0]
    assert e["n_tasks"] == 8 and e["first_line"] == 118 and e["last_line"] == 487
    assert set(rc["stuck_in"]) == {"throttled", "io_wait"}


def test_hung_task_far_from_stall_gets_no_episode() -> None:
    # ksmtuned hung at 305111 s (35 s before khugepaged's stall report) and again 21000 s later
    st, ep, _ = _run(HUNG_STALL)
    ks = st[st["comm"] == "ksmtuned"].sort_values("first_ts")
    assert ks["run"].tolist() == [1, 2]
    assert ks["episode"].tolist()[0] == 0 and pd.isna(ks["episode"].tolist()[1])
    assert len(ep) == 1


def test_one_row_per_task_attempt_run() -> None:
    for sample in (TOO_MANY, TASKS_186, PRINTK_49, INTERLEAVED, SYSRQ_T_414, D1):
        st, _, _ = _run(sample)
        key = st["pid"].astype("string").fillna(st["comm"])
        assert (
            not pd.DataFrame({"b": st["boot"], "k": key, "a": st["attempt"], "r": st["run"]})
            .duplicated()
            .any()
        ), sample


# ---------------------------------------------------------------------------------------------
# episodes


def test_scan_headers_alone_make_an_episode() -> None:
    # D2: seven MemAlloc-Info headers, no task lines kept by the author
    st, ep, _ = _run(D2)
    assert st.empty
    assert len(ep) == 1
    e = ep.iloc[0]
    assert e["n_tasks"] == 0 and e["peak_stalled"] > 0
    assert e["oom_count_first"] == e["oom_count_last"] == 182


def test_oom_count_flat_time() -> None:
    _, ep, _ = _run(D1)
    # oom_count=1593 from 188.08 s to the last header at 315.21 s
    assert ep.iloc[0]["oom_count_flat_s"] == pytest.approx(315.206606 - 188.076342)
    assert ep.iloc[0]["oom_count_first"] == 6


def test_kill_before_first_report_counts_when_allocation_older() -> None:
    # 186-tasks: the kill at 444.28 s precedes the first scan (518 s) but the listed
    # allocations started at ~443.5 s (delay / HZ 1000)
    _, ep, _ = _run(TASKS_186)
    e = ep.iloc[0]
    assert e["began_ts"] < 444.28 < e["start_ts"]
    assert e["kills"] == 1 and e["outcome"] == "stalled_at_end"
    assert e["oom_count_first"] == 8441307 and e["oom_count_last"] == 40646791


def test_log_going_on_without_reports_relieves() -> None:
    # khugepaged's stall report at 305147 s; the log goes on (ksmtuned hung again at 326258 s)
    # without another stall report or kill
    _, ep, _ = _run(HUNG_STALL)
    e = ep.iloc[0]
    assert e["outcome"] == "relieved_without_kill" and e["outcome_line"] == 135
    assert e["kills"] == 0


def test_next_boot_while_stalled_is_reboot() -> None:
    # the kmallocwd-2017 excerpt (stalled to its last line) followed by a capture that starts
    # with a fresh boot: the stall ended by the reboot, on the first line of the next boot
    data = (ROOT / TOO_MANY).read_bytes() + (ROOT / QEMU_HUNG).read_bytes()
    tables = _tables(stalllog.parse(data))
    st = stalled_tasks(tables, classify_stacks(tables))
    ep = episodes(tables, st)
    next_boot = tables["boots"]["line_start"].tolist()[1]
    assert next_boot == 135
    assert ep[["boot", "outcome", "outcome_line"]].values.tolist() == [[0, "reboot", 135]]
    # the hung tasks of the second boot are not memory stalls
    assert st.loc[st["boot"] == 1, "episode"].isna().all()


def _strip_timestamps(sample: str) -> bytes:
    text = (ROOT / sample).read_text(encoding="utf-8")
    return re.sub(r"\[ *\d+\.\d+\] ", "", text).encode()


def test_without_timestamps_lines_order_the_episode() -> None:
    # the same log lines as printed with printk.time=0
    tables = _tables(stalllog.parse(_strip_timestamps(TOO_MANY)))
    assert tables["memalloc"]["ts"].astype(float).isna().all()
    st = stalled_tasks(tables, classify_stacks(tables))
    ep = episodes(tables, st)
    assert len(st) == 3 and st["first_ts"].isna().all()
    assert len(ep) == 1
    e = ep.iloc[0]
    assert e["clock"] == "line"
    assert (e["first_line"], e["last_line"]) == (1, 134)
    assert pd.isna(e["start_ts"]) and pd.isna(e["duration_s"])
    assert e["outcome"] == "stalled_at_end" and e["oom_count_last"] == 45896


def test_without_timestamps_warn_alloc_attempts_by_stall_drop() -> None:
    tables = _tables(stalllog.parse(_strip_timestamps(PRINTK_49)))
    st = stalled_tasks(tables, classify_stacks(tables))
    ep = episodes(tables, st)
    # stall_ms only grows (10024, 20116, 60080, 90046 ms): without timestamps nothing shows
    # that the first report was another allocation
    a = st[st["comm"] == "a.out"]
    assert a["n_reports"].tolist() == [4]
    assert len(ep) == 1 and ep.iloc[0]["clock"] == "line"
    # the kill (line 2) precedes the first report (line 7); without times nothing dates the
    # allocations before it, so it is not counted
    assert ep.iloc[0]["kills"] == 0
    assert ep.iloc[0]["printk_dropped"] == 2416


# ---------------------------------------------------------------------------------------------
# all samples: schema, consistency, cost


SAMPLES = [p for p in sample_files() if "syzkaller" not in p.parts or p.is_file()]


@pytest.mark.parametrize("path", SAMPLES, ids=sample_id)
def test_every_sample(path) -> None:  # type: ignore[no-untyped-def]
    tables = _tables(stalllog.parse(path))
    st = stalled_tasks(tables, classify_stacks(tables))
    ep = episodes(tables, st)
    rc = reclaim(tables, st, ep)
    _check_schema(st, SCHEMA["stalled_tasks"])
    _check_schema(ep, SCHEMA["episodes"])
    _check_schema(rc, RECLAIM_SCHEMA["reclaim"])
    assert set(st["episode"].dropna()) <= set(ep["episode"])
    assert set(ep["outcome"]) <= set(OUTCOMES)
    assert ep["outcome_line"].notna().all()
    assert set(rc["stuck_in"].dropna()) <= set(STUCK_CLASSES)
    assert ep["episode"].tolist() == list(range(len(ep)))
    # reclaim counts every task of every episode once per class
    ins = st[st["episode"].notna()]
    who = ins["pid"].astype("string").fillna(ins["comm"])
    distinct = pd.DataFrame({"e": ins["episode"], "c": ins["stuck_in"], "w": who}).drop_duplicates()
    assert rc["n_tasks"].sum() == len(distinct)
    assert rc["n_reports"].sum() == ins["n_reports"].sum()


def test_analysis_cost_small_against_parse() -> None:
    path = max(sample_files(), key=lambda p: p.stat().st_size)
    t0 = time.perf_counter()
    cap = stalllog.parse(path)
    parse_s = time.perf_counter() - t0
    tables = _tables(cap)
    sc = classify_stacks(tables)
    t0 = time.perf_counter()
    st = stalled_tasks(tables, sc)
    episodes(tables, st)
    analysis_s = time.perf_counter() - t0
    assert analysis_s < max(0.5, parse_s), (analysis_s, parse_s)
