"""Server-rendered SVG charts: they need no JavaScript, scale with the page, and carry a
title and description for screen readers (each chart also has a data table beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colour-blind-safe (Okabe-Ito) and ≥ 3:1 against white for graphical objects (WCAG 1.4.11).
COLOURS = ("#0072B2", "#D55E00", "#009E73")


@dataclass(frozen=True)
class Bar:
    label: str
    values: tuple[int, int, int]  # committed, delivered, confirmed
    highlight: bool = False
    href: str | None = None


def _fmt(value: float, cjk: bool = True) -> str:
    """Compact numbers: 万/亿 for Chinese readers, k/M for English ones."""
    steps = ((1e8, "亿"), (1e4, "万")) if cjk else ((1e9, "B"), (1e6, "M"), (1e3, "k"))
    for size, suffix in steps:
        if value >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _legend(names: Sequence[str], y: int) -> str:
    parts = []
    x = 0
    for colour, name in zip(COLOURS, names, strict=False):
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{y + 11}" font-size="12">{escape(name)}</text>'
        )
        x += 16 + 14 * max(len(name), 4) // 2 + 40
    return "".join(parts)


def grouped_bars(
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    series: Sequence[str],
    *,
    scale: float = 1.0,
    unit: str = "",
    cjk: bool = True,
) -> Markup:
    """Horizontal grouped bars: one group per label, three bars per group."""
    label_w, width, bar_h, gap = (150 if cjk else 230), 660, 9, 10
    plot_w = width - label_w - 70
    group_h = 3 * bar_h + gap
    height = 30 + max(1, len(bars)) * group_h + 10
    peak = max((v for b in bars for v in b.values), default=0) or 1
    out = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        _legend(series, 4),
    ]
    if not bars:
        out.append(f'<text x="0" y="50" font-size="13">{escape("—")}</text>')
    for i, bar in enumerate(bars):
        y0 = 30 + i * group_h
        label = ("★ " if bar.highlight else "") + bar.label
        if bar.highlight:
            out.append(
                f'<rect x="0" y="{y0 - 2}" width="{width}" height="{3 * bar_h + 4}" '
                f'fill="#fff3c4"/>'
            )
        weight = ' font-weight="bold"' if bar.highlight else ""
        text = (
            f'<text x="{label_w - 6}" y="{y0 + 1.5 * bar_h + 4}" font-size="12" '
            f'text-anchor="end"{weight}>{escape(label[: 18 if cjk else 34])}</text>'
        )
        if bar.href:
            text = f'<a href="{escape(bar.href)}">{text}</a>'
        out.append(text)
        for j, value in enumerate(bar.values):
            w = max(0.0, plot_w * value / peak)
            y = y0 + j * bar_h
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{COLOURS[j]}"><title>{escape(series[j])}: '
                f"{_fmt(value * scale, cjk)}{escape(unit)}</title></rect>"
            )
            out.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 1}" font-size="9">'
                f"{_fmt(value * scale, cjk)}</text>"
            )
    out.append("</svg>")
    return Markup("".join(out))


def cumulative_lines(
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, tuple[int, int, int]]],
    series: Sequence[str],
    *,
    scale: float = 1.0,
    cjk: bool = True,
) -> Markup:
    """Cumulative committed/delivered/confirmed over time, one line each."""
    width, height, left, bottom, top = 640, 260, 70, 30, 30
    plot_w, plot_h = width - left - 20, height - bottom - top
    peak = max((v for _, vs in points for v in vs), default=0) or 1
    n = len(points)

    def xy(i: int, v: int) -> tuple[float, float]:
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return x, top + plot_h - plot_h * v / peak

    out = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        _legend(series, 4),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#555"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">'
        f"{_fmt(peak * scale, cjk)}</text>",
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>',
    ]
    for j in range(3):
        coords = [xy(i, vs[j]) for i, (_, vs) in enumerate(points)]
        if not coords:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        dash = (
            ' stroke-dasharray="6 3"' if j == 1 else (' stroke-dasharray="2 2"' if j == 2 else "")
        )
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{COLOURS[j]}" stroke-width="2"{dash}/>'
        )
        for (x, y), (day, vs) in zip(coords, points, strict=True):
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[j]}">'
                f"<title>{escape(day)} {escape(series[j])}: "
                f"{_fmt(vs[j] * scale, cjk)}</title></circle>"
            )
    if points:
        for i in sorted({0, n - 1}):
            x, _ = xy(i, 0)
            out.append(
                f'<text x="{x:.1f}" y="{height - 10}" font-size="10" text-anchor="middle">'
                f"{escape(points[i][0])}</text>"
            )
    out.append("</svg>")
    return Markup("".join(out))
