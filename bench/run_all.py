"""Run every benchmark in ``bench/`` and print one table: figure, value, target, verdict.

Each benchmark runs in its own process (as it would alone) and reports its figures as
``FIGURE`` lines (see ``bench/report.py``); its other output is its inputs and details.
Run: ``.venv/bin/python -m bench.run_all`` (a few minutes; ``--only tick,assess`` to choose).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.report import PREFIX
from bot.exports.tables import table

BENCHES = ("calendar", "tick", "assess", "broadcast", "checkin", "busy_group")
TIMEOUT = 900


def run(name: str) -> tuple[list[list[str]], float, str]:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
        )
        output, failed = done.stdout, done.returncode != 0
        error = done.stderr.strip().splitlines()[-1] if failed and done.stderr.strip() else ""
    except subprocess.TimeoutExpired:
        output, failed, error = "", True, f"no result in {TIMEOUT} s"
    took = time.perf_counter() - started
    rows = [line.split("\t")[1:] for line in output.splitlines() if line.startswith(PREFIX + "\t")]
    if failed or not rows:
        rows.append([f"{name}: did not finish", error or "no figures", "", "MISSED"])
    return rows, took, "\n".join(ln for ln in output.splitlines() if not ln.startswith(PREFIX))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated names: " + ",".join(BENCHES))
    chosen = parser.parse_args().only
    names = [n for n in BENCHES if chosen is None or n in chosen.split(",")]
    rows: list[list[str]] = []
    for name in names:
        figures, took, details = run(name)
        print(f"== bench.{name} ({took:.0f} s)\n{details}\n", flush=True)
        rows += figures
    print(table(["figure", "value", "target", "verdict"], rows))
    missed = [r[0] for r in rows if r[3] == "MISSED"]
    print(
        f"\n{len(rows) - len(missed)} of {len(rows)} targets met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
