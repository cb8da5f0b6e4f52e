"""Charts for the periodic report (matplotlib, Agg backend): PNG for the PDF, SVG for HTML.

Chinese labels need a CJK font; `cjk_font()` finds one (WenQuanYi Zen Hei or Noto CJK from
Debian, or BANGFU_CJK_FONT) and `scripts/ensure_report_deps.sh` installs it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import font_manager
from matplotlib.figure import Figure

from ledger.config import get_settings
from ledger.core.errors import ToolchainError

#: TrueType-outline CJK fonts, which both matplotlib and reportlab can embed.
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
COLORS = ("#1f5fa8", "#f28e2b", "#59a14f", "#e15759")


@cache
def cjk_font() -> Path:
    """The path of a CJK TrueType font, or a ToolchainError saying how to install one."""
    chosen = get_settings().cjk_font
    for candidate in ([str(chosen)] if chosen else []) + list(CJK_FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ToolchainError(
        "no Chinese font found for reports; run `bash scripts/ensure_report_deps.sh` "
        "(apt-get install fonts-wqy-zenhei) or set BANGFU_CJK_FONT to a .ttf/.ttc file",
        code="cjk_font_missing",
    )


@cache
def _font_family() -> str:
    path = cjk_font()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def _figure(width: float = 7.0, height: float = 3.4) -> Figure:
    plt.rcParams["font.family"] = [_font_family(), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.fonttype"] = "path"  # text as outlines: SVG shows without the font
    fig = plt.figure(figsize=(width, height), dpi=150)
    return fig


def _render(fig: Figure) -> tuple[bytes, str]:
    fig.tight_layout()
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png")
    fig.savefig(svg, format="svg")
    plt.close(fig)
    text = svg.getvalue()
    return png.getvalue(), text[text.find("<svg") :]


def grouped_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    unit: str,
    horizontal: bool = False,
    highlight: Sequence[bool] = (),
) -> tuple[bytes, str]:
    """Grouped bars (committed / delivered / confirmed per county, category or org)."""
    fig = _figure(7.0, max(3.0, 0.45 * len(labels) + 1.2) if horizontal else 3.4)
    ax = fig.add_subplot(1, 1, 1)
    n = max(1, len(series))
    width = 0.8 / n
    positions = list(range(len(labels)))
    for i, (name, values) in enumerate(series):
        offs = [p - 0.4 + width * (i + 0.5) for p in positions]
        if horizontal:
            ax.barh(offs, values, height=width, label=name, color=COLORS[i % len(COLORS)])
        else:
            ax.bar(offs, values, width=width, label=name, color=COLORS[i % len(COLORS)])
    if horizontal:
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ticks = ax.get_yticklabels()
    else:
        ax.set_xticks(positions, labels, rotation=20 if len(labels) > 4 else 0, ha="right")
        ax.set_ylabel(unit)
        ticks = ax.get_xticklabels()
    for tick, hot in zip(ticks, highlight, strict=False):
        if hot:
            tick.set_fontweight("bold")
            tick.set_color("#b22222")
    ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    if series:
        ax.legend(fontsize=8, frameon=False)
    return _render(fig)


def trend(
    title: str, months: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *, unit: str
) -> tuple[bytes, str]:
    """Monthly lines (committed / delivered / confirmed funds)."""
    fig = _figure(7.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for i, (name, values) in enumerate(series):
        ax.plot(months, values, marker="o", label=name, color=COLORS[i % len(COLORS)])
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=8, frameon=False)
    return _render(fig)
