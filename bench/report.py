"""One line per figure that ``bench/run_all.py`` collects into its table."""

from __future__ import annotations

PREFIX = "FIGURE"


def figure(name: str, value: str, target: str = "", verdict: str = "") -> None:
    """Print a figure as a tab-separated line: name, value, target, ok/MISSED (or empty)."""
    print("\t".join((PREFIX, name, value, target, verdict)))
