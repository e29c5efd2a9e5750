"""Start-up time of `import stalllog` and of `stalllog ... --help` (issue 9 item 6 and issue 11:
each under 0.5 s). Wall time of fresh processes, min and median of `--repeat` runs, after one
warm-up run (so .pyc files exist and the files are in the page cache).

    python benchmarks/startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

TARGET_S = 0.5


def _commands() -> list[tuple[str, list[str]]]:
    exe = shutil.which("stalllog") or "stalllog"
    cmds = [("import stalllog", [sys.executable, "-c", "import stalllog"])]
    cmds.append(("stalllog --help", [exe, "--help"]))
    cmds.append(("python -m stalllog --help", [sys.executable, "-m", "stalllog", "--help"]))
    listed = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    commands = listed.split("Commands:", 1)[-1].split()
    for name in ("parse", "summary", "analyze", "report", "plot", "tables"):
        if name in commands:
            cmds.append((f"stalllog {name} --help", [exe, name, "--help"]))
    return cmds


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    print(f"| command | min s | median s | under {TARGET_S} s |")
    print("|---|---:|---:|---|")
    for label, argv in _commands():
        _time(argv)  # warm-up
        runs = [_time(argv) for _ in range(args.repeat)]
        best, median = min(runs), statistics.median(runs)
        ok = "yes" if median < TARGET_S else "NO"
        print(f"| `{label}` | {best:.3f} | {median:.3f} | {ok} |")


if __name__ == "__main__":
    main()
