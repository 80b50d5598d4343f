"""Run every benchmark in ``bench/`` and print one table: figure, value, target, verdict.

Each benchmark runs in its own process (as it would alone) and reports its figures as
``FIGURE`` lines (see ``bench/report.py``); its other output is its inputs and details.
Run: ``.venv/bin/python -m bench.run_all`` (a few minutes; ``--only tick,assess`` to choose).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import PREFIX
from bot.exports.tables import table

BENCHES = ("calendar", "tick", "assess", "broadcast", "sender", "checkin", "busy_group", "webapp")
TIMEOUT = 900


def reap(pid: int, deadline: float) -> tuple[int, float]:
    """Wait for a child (killed at ``deadline``): its exit status and peak RSS in MB (the
    child's own: a benchmark that runs each measurement in a process of its own reports
    that process's figure itself)."""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage.ru_maxrss / 1024
        if time.perf_counter() > deadline:
            os.kill(pid, 9)
        time.sleep(0.2)


def run(name: str) -> tuple[list[list[str]], float, str, float]:
    """One benchmark in its own process: its figures, seconds, other output and peak RSS (MB)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", f"bench.{name}"],
            stdout=out,
            stderr=err,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        status, rss = reap(child.pid, started + TIMEOUT)
        child.returncode = status  # reaped here (os.wait4 gives its peak memory)
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read().strip()
    failed = status != 0
    took = time.perf_counter() - started
    rows = [line.split("\t")[1:] for line in output.splitlines() if line.startswith(PREFIX + "\t")]
    if failed or not rows:
        reason = errors.splitlines()[-1] if errors else f"no result in {TIMEOUT} s"
        rows.append([f"{name}: did not finish", reason, "", "MISSED"])
    details = "\n".join(ln for ln in output.splitlines() if not ln.startswith(PREFIX))
    return rows, took, details, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated names: " + ",".join(BENCHES))
    chosen = parser.parse_args().only
    names = [n for n in BENCHES if chosen is None or n in chosen.split(",")]
    rows: list[list[str]] = []
    for name in names:
        figures, took, details, rss = run(name)
        print(f"== bench.{name} ({took:.0f} s, peak RSS {rss:.0f} MB)\n{details}\n", flush=True)
        rows += [[*f, f"{rss:.0f} MB"] for f in figures]
    print(table(["figure", "value (median of runs)", "target", "verdict", "bench peak RSS"], rows))
    missed = [r[0] for r in rows if r[3] == "MISSED"]
    print(
        f"\n{len(rows) - len(missed)} of {len(rows)} targets met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
