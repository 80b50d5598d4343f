"""The chart font: freely licensed, installed as a package, no proprietary font anywhere, and
every name the charts draw has its glyphs (matplotlib warns of a missing glyph; the suite
turns warnings into errors, and this test records them to say which)."""

from __future__ import annotations

import importlib.util
import io
import re
import sysconfig
import warnings
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.exports import charts
from bot.rules.catalogue import CATALOGUE
from bot.services.obligations import obligation_name
from settings import Settings

# file names of fonts no government organ may install without a licence
PROPRIETARY = re.compile(
    r"(simhei|simsun|simkai|simfang|simli|simyou|msyh|msjh|microsoft ?yahei|mingliu|"
    r"stheiti|stsong|stkaiti|stfangsong|pingfang|hiragino|华文|微软雅黑|宋体|黑体|楷体)",
    re.IGNORECASE,
)


def installed_files() -> list[Path]:
    roots = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_no_proprietary_font_is_installed() -> None:
    files = installed_files()
    assert len(files) > 1000  # the walk did see the installed packages
    fonts = [p for p in files if p.suffix.lower() in {".ttf", ".ttc", ".otf", ".otc", ".woff"}]
    assert any(p.name == "NotoSansCJK-Regular.ttc" for p in fonts)
    offenders = [str(p) for p in files if PROPRIETARY.search(p.name)]
    assert offenders == []
    assert importlib.util.find_spec("mplfonts") is None


def test_the_chart_font_is_noto_sans_cjk_sc_under_the_ofl() -> None:
    assert charts.font_name() == "Noto Sans CJK SC"
    assert charts.font_licence() == "OFL-1.1"
    licence = charts.font_path().parent.parent.glob("noto_cjk_sans_otc-*.dist-info/licenses/*")
    text = next(iter(licence)).read_text()
    assert "SIL OPEN FONT LICENSE" in text.upper()


def test_every_name_a_chart_draws_renders_without_a_missing_glyph() -> None:
    names = [obligation_name(ob.code, lang) for ob in CATALOGUE for lang in ("zh", "en")]
    text = (
        "".join(names) + "第一党支部机关党委工委党总支党小组完成未开展逾期不适用%0123456789年季度月"
    )
    assert charts.missing_glyphs(text) == set()
    family = charts.font_name()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure(figsize=(8, 3))
        FigureCanvasAgg(fig)
        fig.text(0.01, 0.5, text[:80], fontfamily=family)
        fig.text(0.01, 0.2, text[80:160], fontfamily=family)
        fig.savefig(io.BytesIO(), format="png")
    assert [str(w.message) for w in caught] == []
    with warnings.catch_warnings(record=True) as caught:  # the check can fail
        warnings.simplefilter("always")
        fig = Figure(figsize=(2, 1))
        FigureCanvasAgg(fig)
        fig.text(0.1, 0.5, "支部\U00020000", fontfamily=family)
        fig.savefig(io.BytesIO(), format="png")
    assert any("missing" in str(w.message).lower() for w in caught)


async def test_doctor_reports_the_font_and_fails_clearly_without_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.ops.doctor import run_checks

    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'd.db'}")  # type: ignore[call-arg]
    checks = {c.said("en")[0]: (c.ok, *c.said("en")[1:]) for c in await run_checks(settings)}
    ok, detail, _ = checks["chart font"]
    assert ok and detail == "Noto Sans CJK SC (NotoSansCJK-Regular.ttc), licence OFL-1.1"
    charts.font_path.cache_clear()
    monkeypatch.setattr(charts, "FONT_PACKAGE", "no_such_font_package")
    try:
        found = await run_checks(settings)
    finally:
        charts.font_path.cache_clear()
    checks = {c.said("en")[0]: (c.ok, *c.said("en")[1:]) for c in found}
    ok, detail, fix = checks["chart font"]
    assert not ok and "noto-cjk-sans-otc" in detail and "pip install" in fix
