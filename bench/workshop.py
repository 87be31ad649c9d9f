"""Times the workshop kit as a room would run it: every student notebook of
workshop/, answers filled in, top to bottom in a tslab kernel with the
`workshop` profile (or CYCLEGAN_PROFILE). Prints per notebook the wall time,
the slowest cell and the checks passed, then the training cells against the
kit's target of 3 minutes each. `npm run bench:workshop`.
"""
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "workshop"))
from test_kit import NOTEBOOKS, report, run_copy  # noqa: E402

TARGET_S = 180


def seconds(cell):
    # tslab stamps its execute_reply when the cell starts; busy -> idle is
    # the cell's run.
    t = cell.metadata.get("execution", {})
    start, end = t.get("iopub.status.busy"), t.get("iopub.status.idle")
    if not start or not end:
        return 0.0
    parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def first_line(cell):
    lines = [l for l in cell.source.splitlines()
             if l.strip() and not l.startswith(("import ", "//", "process.env"))]
    return (lines[0] if lines else cell.source.splitlines()[0])[:48]


def main():
    os.environ.setdefault("CYCLEGAN_PROFILE", "workshop")
    print(f"profile {os.environ['CYCLEGAN_PROFILE']}, {os.cpu_count()} CPUs")
    print(f"{'notebook':<20} {'wall s':>7} {'checks':>7}  slowest cell")
    training, total = [], 0.0
    try:
        for name in NOTEBOOKS:
            started = time.time()
            nb = run_copy(name, "bench")
            wall = time.time() - started
            total += wall
            errors, checks = report(nb)
            passed = sum(first.startswith("PASS") for _, first in checks)
            code = [c for c in nb.cells if c.cell_type == "code"]
            slow = max(code, key=seconds)
            print(f"{name:<20} {wall:7.1f} {passed:>3}/{len(checks):<3}  "
                  f"{seconds(slow):6.1f} s  {first_line(slow)}")
            for e in errors:
                print(f"  error: {e}")
            training += [(name, seconds(c), first_line(c)) for c in code
                         if "await train(" in c.source]
            sys.stdout.flush()
    finally:
        shutil.rmtree(ROOT / ".kit-test-bench", ignore_errors=True)
    print(f"{'all':<20} {total:7.1f}")
    print(f"training cells (target under {TARGET_S} s each):")
    for name, s, line in training:
        verdict = "ok" if s < TARGET_S else "OVER"
        print(f"  {name:<18} {s:6.1f} s  {verdict}  {line}")


if __name__ == "__main__":
    main()
