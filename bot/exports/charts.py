"""Chart images for /status and /overview (SPEC §8), drawn with a CJK font that ships with
the install, so Chinese renders everywhere: the Simplified Chinese face of Noto Sans CJK
(SIL Open Font License 1.1), from the ``noto-cjk-sans-otc`` package, which holds that one
font collection and its licence and nothing else."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Patch

FONT_PACKAGE = "noto_cjk_sans_otc"
FONT_DISTRIBUTION = "noto-cjk-sans-otc"
FONT_FILE = "NotoSansCJK-Regular.ttc"
FONT_FAMILY = "Noto Sans CJK SC"  # the Simplified Chinese face of the collection


class FontMissing(RuntimeError):
    """No CJK font for the charts: the install is incomplete."""


@cache
def font_path() -> Path:
    """The font collection inside the installed font package (not imported: only read)."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FontMissing(
            f"the {FONT_DISTRIBUTION} package (the CJK font for charts) is not installed"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / FONT_FILE
    if not path.is_file():
        raise FontMissing(f"CJK font missing: {path}")
    return path


@cache
def font_face() -> int:
    """The index of the Simplified Chinese face in the collection."""
    path = str(font_path())
    faces = FT2Font(path).num_faces
    for index in range(faces):
        if FT2Font(path, face_index=index).family_name == FONT_FAMILY:
            return index
    raise FontMissing(f"{FONT_FAMILY} is not in {path}")


def font_licence() -> str:
    """The licence of the chart font, as its package declares it (e.g. OFL-1.1)."""
    try:
        meta = importlib.metadata.metadata(FONT_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise FontMissing(f"the {FONT_DISTRIBUTION} package is not installed") from exc
    return str(meta["License-Expression"] or meta["License"] or "unknown")


@cache
def font_name() -> str:
    font_face()  # the face is there
    font_manager.fontManager.addfont(str(font_path()))  # registers every face by its family
    return FONT_FAMILY


@cache
def covered() -> frozenset[int]:
    return frozenset(FT2Font(str(font_path()), face_index=font_face()).get_charmap())


def missing_glyphs(text: str) -> set[str]:
    """Characters of ``text`` the chart font cannot draw (whitespace aside)."""
    return {ch for ch in text if not ch.isspace() and ord(ch) not in covered()}


@dataclass(frozen=True)
class Chart:
    png: bytes
    text: str  # every string drawn, for checking glyph coverage
    font: Path


def _render(fig: Figure, texts: list[str]) -> Chart:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png")
    return Chart(buffer.getvalue(), "".join(texts), font_path())


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    return fig


# one colour per state, the same in both charts: done, open (not yet due), overdue (or
# missed), not tracked (before the bot kept the calendar)
STATE_COLOURS = {
    "done": "#2e7d32",
    "open": "#1e88e5",
    "overdue": "#c62828",
    "not_tracked": "#bdbdbd",
}
STATES = tuple(STATE_COLOURS)


def _legend(fig: Figure, legend: Mapping[str, str], family: str, shown: set[str]) -> list[str]:
    """A legend of the states drawn (in the reader's words), along the bottom of the figure,
    clear of the axis labels; the labels, for the glyph check."""
    states = [s for s in STATES if s in shown and s in legend]
    handles = [Patch(color=STATE_COLOURS[s], label=legend[s]) for s in states]
    if handles:
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=len(handles),
            frameon=False,
            prop={"family": family, "size": 9},
        )
    fig.tight_layout(rect=(0, 0.07 if handles else 0, 1, 1))
    return [legend[s] for s in states]


def bars(
    title: str,
    labels: list[str],
    shares: list[float],
    notes: list[str],
    states: list[str],
    legend: Mapping[str, str],
    required: str,
) -> Chart:
    """Horizontal bars, one per label: the share done (0–1) coloured by its state, with a
    note at the bar's end (count and deadline), the line of what is required, a legend."""
    family = font_name()
    height = max(3.0, 0.45 * len(labels) + 2.0)
    fig = _figure(8, height)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    colours = [STATE_COLOURS[s] for s in states]
    ax.barh(ys, [max(s, 0.01) for s in shares], color=colours)
    ax.set_yticks(ys, labels, fontfamily=family, fontsize=10)
    ax.set_xlim(0, 1.45)
    marks = ["0%", "50%", f"100% {required}"]
    ax.set_xticks([0, 0.5, 1], marks, fontfamily=family)
    ax.axvline(1, color="#424242", linestyle="--", linewidth=1)  # what is required
    for y, share, note in zip(ys, shares, notes, strict=True):
        ax.text(min(share, 1) + 0.02, y, note, va="center", fontfamily=family, fontsize=9)
    ax.set_title(title, fontfamily=family, fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    words = _legend(fig, legend, family, set(states))
    return _render(fig, [title, *labels, *notes, *words, *marks])


def heatmap(
    title: str,
    rows: list[str],
    cols: list[str],
    cells: list[list[tuple[float, str] | None]],
    legend: Mapping[str, str],
) -> Chart:
    """Rows × columns coloured by state (done, open, overdue, not tracked), each cell with
    its share done; blank where nothing applies; a legend below."""
    family = font_name()
    fig = _figure(max(6, 0.7 * len(cols) + 3), max(3.2, 0.35 * len(rows) + 2.8))
    ax = fig.add_subplot()
    blank = (1.0, 1.0, 1.0, 1.0)
    grid = [[to_rgba(STATE_COLOURS[c[1]]) if c else blank for c in row] for row in cells]
    ax.imshow(grid, aspect="auto")
    texts = []
    if len(rows) * len(cols) <= 600:  # the share in each cell, while it stays legible
        for y, row in enumerate(cells):
            for x, cell in enumerate(row):
                if cell is not None and cell[1] != "not_tracked":
                    text = f"{round(cell[0] * 100)}%"
                    ax.text(x, y, text, ha="center", va="center", fontsize=6, color="white")
                    texts.append(text)
    ax.set_xticks(range(len(cols)), cols, fontfamily=family, fontsize=8, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontfamily=family, fontsize=8)
    ax.set_title(title, fontfamily=family, fontsize=11)
    shown = {c[1] for row in cells for c in row if c is not None}
    words = _legend(fig, legend, family, shown)
    return _render(fig, [title, *rows, *cols, *words, *texts])


def big_code(title: str, code: str) -> Chart:
    """A check-in code in large print, to project in the meeting room (16:9)."""
    family = font_name()
    fig = _figure(16, 9)
    fig.text(0.5, 0.8, title, ha="center", va="center", fontfamily=family, fontsize=40)
    spaced = " ".join(code)
    fig.text(0.5, 0.42, spaced, ha="center", va="center", fontfamily=family, fontsize=180)
    return _render(fig, [title, spaced])
