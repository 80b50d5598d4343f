"""What every benchmark shares: one line per figure that ``bench/run_all.py`` collects into its
table, and honest summaries of repeated runs (the machine is shared and noisy: a verdict comes
from the median of several runs, and the spread is shown beside it)."""

from __future__ import annotations

import resource
import statistics

PREFIX = "FIGURE"
RUNS = 3  # each measurement is taken this many times


def figure(name: str, value: str, target: str = "", verdict: str = "") -> None:
    """Print a figure as a tab-separated line: name, value, target, ok/MISSED (or empty)."""
    print("\t".join((PREFIX, name, value, target, verdict)))


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    """``median (min–max, n runs)``."""
    return (
        f"{median(values):.{digits}f} {unit} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f}, {len(values)} runs)"
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB. On Linux from VmHWM, which starts
    afresh with the program (ru_maxrss keeps the peak of the process it was forked from)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Start this process's peak resident memory afresh (Linux: ``clear_refs`` 5), so that
    ``peak_rss_mb`` shows the peak of what follows rather than of a benchmark's set-up."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True
