"""Chart images for /status and /overview (SPEC §8), drawn with a CJK font that ships with
the install, so Chinese renders everywhere: the Simplified Chinese face of Noto Sans CJK
(SIL Open Font License 1.1), from the ``noto-cjk-sans-otc`` package, which holds that one
font collection and its licence and nothing else."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

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


def bars(title: str, labels: list[str], shares: list[float], notes: list[str]) -> Chart:
    """Horizontal bars, one per label: the share done (0–1), with a note at the bar's end."""
    family = font_name()
    height = max(2.5, 0.45 * len(labels) + 1.2)
    fig = _figure(8, height)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    colours = ["#2e7d32" if s >= 1 else "#f9a825" if s > 0 else "#c62828" for s in shares]
    ax.barh(ys, [max(s, 0.01) for s in shares], color=colours)
    ax.set_yticks(ys, labels, fontfamily=family, fontsize=10)
    ax.set_xlim(0, 1.25)
    ax.set_xticks([0, 0.5, 1], ["0%", "50%", "100%"])
    for y, share, note in zip(ys, shares, notes, strict=True):
        ax.text(min(share, 1) + 0.02, y, note, va="center", fontfamily=family, fontsize=9)
    ax.set_title(title, fontfamily=family, fontsize=12)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _render(fig, [title, *labels, *notes, "0%50%100%"])


HEAT = LinearSegmentedColormap.from_list("zhibu", ["#c62828", "#f9a825", "#2e7d32"])


def heatmap(
    title: str, rows: list[str], cols: list[str], values: list[list[float | None]]
) -> Chart:
    """Rows × columns coloured by share done (0–1); blank where nothing applies."""
    family = font_name()
    fig = _figure(max(6, 0.7 * len(cols) + 3), max(2.5, 0.35 * len(rows) + 1.8))
    ax = fig.add_subplot()
    grid = [[math.nan if v is None else v for v in row] for row in values]
    ax.imshow(grid, cmap=HEAT, vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, fontfamily=family, fontsize=8, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontfamily=family, fontsize=8)
    ax.set_title(title, fontfamily=family, fontsize=11)
    fig.tight_layout()
    return _render(fig, [title, *rows, *cols])


def big_code(title: str, code: str) -> Chart:
    """A check-in code in large print, to project in the meeting room (16:9)."""
    family = font_name()
    fig = _figure(16, 9)
    fig.text(0.5, 0.8, title, ha="center", va="center", fontfamily=family, fontsize=40)
    spaced = " ".join(code)
    fig.text(0.5, 0.42, spaced, ha="center", va="center", fontfamily=family, fontsize=180)
    return _render(fig, [title, spaced])
