"""Server-rendered SVG charts: they need no JavaScript, scale with the page, and carry a
title and description for screen readers (each chart also has a data table beside it).

Each chart is drawn twice: a wide drawing for screens and a narrow one (labels above their
bars, a viewBox about as wide as a phone) that the stylesheet shows below 720 px instead, so
no label is scaled below 10 px on a 390 px phone."""

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


#: Width of the narrow drawing's viewBox: a 390 px phone shows it at about 1:1.
NARROW = 340


def _text_width(text: str, size: float) -> float:
    """About how wide `text` is at `size`: a CJK character is one em, others about half."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.56 for ch in text)


def _legend(names: Sequence[str], y: int, size: int = 12, gap: int = 40) -> str:
    parts = []
    x = 0.0
    for colour, name in zip(COLOURS, names, strict=False):
        parts.append(
            f'<rect x="{x:.0f}" y="{y}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16:.0f}" y="{y + 11}" font-size="{size}">{escape(name)}</text>'
        )
        x += 16 + _text_width(name, size) + gap
    return "".join(parts)


def _open(chart_id: str, css: str, width: int, height: float, title: str) -> str:
    return (
        f'<svg id="{chart_id}" class="chart {css}" viewBox="0 0 {width} {height:.0f}" '
        f'role="img" aria-labelledby="{chart_id}-t" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
    )


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
    """Horizontal grouped bars: one group per label, three bars per group; the wide drawing
    (id `chart_id`) and the narrow one (`chart_id-narrow`)."""
    return Markup(
        _bars(chart_id, title, bars, series, scale, unit, cjk, _layout(True, cjk))
        + _bars(chart_id + "-narrow", title, bars, series, scale, unit, cjk, _layout(False, cjk))
    )


@dataclass(frozen=True)
class _Layout:
    """The geometry of one grouped-bars drawing: each group is its label (beside the bars when
    `label_h` is 0, else on a line of its own above them) and three bars, one per series."""

    css: str
    width: int
    top: int  # the legend's band, above the first group
    bottom: int
    bar_h: int
    label_h: int
    gap: int
    plot_x: int  # where the bars start
    plot_w: int
    legend: tuple[int, ...]  # _legend's y, size, gap
    label_x: float
    label_y: float  # the label's baseline, below the group's top
    label_size: int
    anchor: str
    limit: int  # characters of a label shown
    value_size: int
    mark: tuple[int, int]  # the highlight band: from this far above the group, this much taller


def _layout(wide: bool, cjk: bool) -> _Layout:
    """Wide: labels left of their bars in a 660-wide drawing. Narrow: each label on its own
    line above its bars, the width of a phone."""
    if wide:
        label_w, width, bar_h = (150 if cjk else 230), 660, 12
        return _Layout(
            css="chart-wide", width=width, top=30, bottom=10, bar_h=bar_h, label_h=0, gap=10,
            plot_x=label_w, plot_w=width - label_w - 70, legend=(4,),
            label_x=label_w - 6, label_y=1.5 * bar_h + 5, label_size=13, anchor="end",
            limit=11 if cjk else 30, value_size=11, mark=(2, 4),
        )  # fmt: skip
    return _Layout(
        css="chart-narrow", width=NARROW, top=28, bottom=6, bar_h=14, label_h=20, gap=10,
        plot_x=0, plot_w=NARROW - 64, legend=(4, 13, 18),
        label_x=0, label_y=15, label_size=14, anchor="start",
        limit=20 if cjk else 40, value_size=12, mark=(0, 2),
    )  # fmt: skip


def _bar_rects(
    bar: Bar,
    g: _Layout,
    y0: float,
    peak: int,
    series: Sequence[str],
    scale: float,
    unit: str,
    cjk: bool,
) -> list[str]:
    out = []
    for j, value in enumerate(bar.values):
        w = max(0.0, g.plot_w * value / peak)
        y = y0 + j * g.bar_h
        out.append(
            f'<rect x="{g.plot_x}" y="{y}" width="{w:.1f}" height="{g.bar_h - 1}" '
            f'fill="{COLOURS[j]}"><title>{escape(series[j])}: '
            f"{_fmt(value * scale, cjk)}{escape(unit)}</title></rect>"
        )
        out.append(
            f'<text x="{g.plot_x + w + 4:.1f}" y="{y + g.bar_h - 2}" font-size="{g.value_size}">'
            f"{_fmt(value * scale, cjk)}</text>"
        )
    return out


def _label(bar: Bar, x: float, y: float, size: int, anchor: str, limit: int) -> str:
    label = ("★ " if bar.highlight else "") + bar.label
    weight = ' font-weight="bold"' if bar.highlight else ""
    text = (
        f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}"{weight}>'
        f"{escape(label[:limit])}</text>"
    )
    return f'<a href="{escape(bar.href)}">{text}</a>' if bar.href else text


def _bars(
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    series: Sequence[str],
    scale: float,
    unit: str,
    cjk: bool,
    g: _Layout,
) -> str:
    group_h = g.label_h + 3 * g.bar_h + g.gap
    height = g.top + max(1, len(bars)) * group_h + g.bottom
    peak = max((v for b in bars for v in b.values), default=0) or 1
    out = [_open(chart_id, g.css, g.width, height, title), _legend(series, *g.legend)]
    if not bars:
        out.append(f'<text x="0" y="50" font-size="{g.label_size}">{escape("—")}</text>')
    for i, bar in enumerate(bars):
        y0 = g.top + i * group_h
        if bar.highlight:
            above, taller = g.mark
            out.append(
                f'<rect x="0" y="{y0 - above}" width="{g.width}" '
                f'height="{g.label_h + 3 * g.bar_h + taller}" fill="#fff3c4"/>'
            )
        out.append(_label(bar, g.label_x, y0 + g.label_y, g.label_size, g.anchor, g.limit))
        out.extend(_bar_rects(bar, g, y0 + g.label_h, peak, series, scale, unit, cjk))
    out.append("</svg>")
    return "".join(out)


def cumulative_lines(
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, tuple[int, int, int]]],
    series: Sequence[str],
    *,
    scale: float = 1.0,
    cjk: bool = True,
) -> Markup:
    """Cumulative committed/delivered/confirmed over time, one line each; the wide drawing
    (id `chart_id`) and the narrow one (`chart_id-narrow`)."""
    return Markup(
        _lines(chart_id, "chart-wide", 640, 260, 70, 12, title, points, series, scale, cjk)
        + _lines(
            chart_id + "-narrow",
            "chart-narrow",
            NARROW,
            240,
            58,
            13,
            title,
            points,
            series,
            scale,
            cjk,
        )
    )


def _lines(
    chart_id: str,
    css: str,
    width: int,
    height: int,
    left: int,
    size: int,
    title: str,
    points: Sequence[tuple[str, tuple[int, int, int]]],
    series: Sequence[str],
    scale: float,
    cjk: bool,
) -> str:
    bottom, top, right = 30, 30, 16
    plot_w, plot_h = width - left - right, height - bottom - top
    peak = max((v for _, vs in points for v in vs), default=0) or 1
    n = len(points)

    def xy(i: int, v: int) -> tuple[float, float]:
        x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
        return x, top + plot_h - plot_h * v / peak

    out = [
        _open(chart_id, css, width, height, title),
        _legend(series, 4, size, 40 if width > NARROW else 18),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#555"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="{size}" text-anchor="end">'
        f"{_fmt(peak * scale, cjk)}</text>",
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="{size}" text-anchor="end">0</text>',
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
        ends = sorted({0, n - 1})
        for i in ends:
            x, _ = xy(i, 0)
            # the first date starts at its point and the last ends at its own, so neither
            # leaves the drawing however narrow it is
            anchor = "middle" if len(ends) == 1 else ("start" if i == 0 else "end")
            out.append(
                f'<text x="{x:.1f}" y="{height - 8}" font-size="{size}" text-anchor="{anchor}">'
                f"{escape(points[i][0])}</text>"
            )
    out.append("</svg>")
    return "".join(out)
