"""Mutation loop over real samples: N mutated windows (tests/mutations.py: numbers grown to
20-40 digits or mangled, cut lines, glued records, stamps in mid-line, compressed members), each
parsed with the analysis; prints how many crashed (an exception, or a line not given back).

    .venv/bin/python tests/fuzz_loop.py -n 2000            # seed 0; deterministic
    nice -n 19 .venv/bin/python tests/fuzz_loop.py -n 100000 --seed 1 --save /tmp/crashes

Each crash input is written to --save (when given) as `<i>.bin`; a small one belongs in
tests/fuzz_corpus/ (tests/test_fuzz_corpus.py runs every file there). Progress is printed
every --every runs, so a run stopped early still tells how far it got.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # conftest, mutations

from mutations import check, mutate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="mutations to run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, help="folder for crash inputs")
    ap.add_argument("--every", type=int, default=500, help="print progress every N runs")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    crashes = 0
    kinds: collections.Counter[str] = collections.Counter()
    t0 = time.monotonic()
    for i in range(args.n):
        data = mutate(rng)
        try:
            check(data)
        except Exception as e:
            crashes += 1
            frames = traceback.extract_tb(e.__traceback__)
            ours = [f for f in frames if "stalllog" in f.filename or "parsers" in f.filename]
            where = (ours or frames)[-1]
            kind = f"{type(e).__name__} at {Path(where.filename).name}:{where.lineno}"
            if kinds[kind] == 0:
                print(f"run {i}: {kind}: {str(e)[:200]}", flush=True)
            kinds[kind] += 1
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{i}.bin").write_bytes(data)
        if (i + 1) % args.every == 0:
            print(f"{i + 1} runs, {crashes} crashes, {time.monotonic() - t0:.0f}s", flush=True)
    print(f"runs={args.n} crashes={crashes} seed={args.seed} {time.monotonic() - t0:.0f}s")
    for kind, count in kinds.most_common():
        print(f"  {count:6d}  {kind}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
