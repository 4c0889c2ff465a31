"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched.

Each function takes bars (a label, a number and how that number is written) and returns
the SVG markup of one chart, every text escaped; the look comes from the console's
stylesheet (``svg.chart .bar``, ``.axis``, ``text.value``), never from inline styles, so
the page's Content-Security-Policy (no inline style, no script) holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

# Horizontal bars: one row per bar, its label on the left and its value after the bar.
ROW = 24
LABEL = 150
VALUE = 110
WIDTH = 480
# Columns: one column per bar (months), its label under it and its value above it.
HEIGHT = 180
PAD = 48  # room on each side for a column's value, wider than the column
BASE = 24
TOP = 22

MAX_LABEL = 12  # characters; twelve Chinese ones still fit the label column


@dataclass(frozen=True)
class Bar:
    """One bar: what it stands for, its size and its size as written for people."""

    label: str
    value: int
    shown: str


def _short(label: str, size: int = MAX_LABEL) -> str:
    return label if len(label) <= size else label[:size - 1] + "…"


def _svg(width: int, height: int, title: str, body: list[Markup]) -> Markup:
    return Markup(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}"'
        ' width="{w}" height="{h}" role="img" aria-label="{title}"><title>{title}</title>'
        "{body}</svg>").format(w=width, h=height, title=title, body=Markup("").join(body))


def bar_chart(bars: Sequence[Bar], *, title: str) -> Markup:
    """Horizontal bars, one row each, longest for the largest value (sectors, types,
    classes). An empty chart is an empty string."""
    if not bars:
        return Markup("")
    top = max(max(b.value for b in bars), 1)
    span = WIDTH - LABEL - VALUE
    height = ROW * len(bars) + 8
    body = [Markup('<line class="axis" x1="{x}" y1="0" x2="{x}" y2="{y}"/>').format(
        x=LABEL, y=height - 4)]
    for i, bar in enumerate(bars):
        y = i * ROW + 4
        length = max(round(span * max(bar.value, 0) / top), 1 if bar.value else 0)
        body.append(Markup(
            '<g class="row"><title>{label}: {shown}</title>'
            '<text class="label" x="{lx}" y="{ty}" text-anchor="end">{short}</text>'
            '<rect class="bar" x="{x}" y="{by}" width="{length}" height="{bh}"/>'
            '<text class="value" x="{vx}" y="{ty}">{shown}</text></g>').format(
                label=bar.label, shown=bar.shown, short=_short(bar.label), lx=LABEL - 6,
                ty=y + 15, x=LABEL, by=y + 3, length=length, bh=ROW - 8,
                vx=LABEL + length + 6))
    return _svg(WIDTH, height, title, body)


def column_chart(bars: Sequence[Bar], *, title: str) -> Markup:
    """Vertical columns side by side in the order given (months), each labelled below
    and valued above. An empty chart is an empty string."""
    if not bars:
        return Markup("")
    top = max(max(b.value for b in bars), 1)
    slot = min(max(WIDTH // len(bars), 24), 80)  # one month is not a wall
    width = max(WIDTH, 2 * PAD + slot * len(bars))
    floor = HEIGHT - BASE
    body = [Markup('<line class="axis" x1="0" y1="{y}" x2="{x}" y2="{y}"/>').format(
        x=width, y=floor)]
    for i, bar in enumerate(bars):
        x = PAD + i * slot
        tall = max(round((floor - TOP) * max(bar.value, 0) / top), 1 if bar.value else 0)
        margin = slot // 6
        body.append(Markup(
            '<g class="column"><title>{label}: {shown}</title>'
            '<rect class="bar" x="{x}" y="{y}" width="{w}" height="{h}"/>'
            '<text class="value" x="{mid}" y="{vy}" text-anchor="middle">{value}</text>'
            '<text class="label" x="{mid}" y="{ly}" text-anchor="middle">{short}</text>'
            "</g>").format(
                label=bar.label, shown=bar.shown, x=x + margin, y=floor - tall,
                w=slot - 2 * margin, h=tall, mid=x + slot // 2, vy=floor - tall - 5,
                value=_short(bar.shown, 16), ly=floor + 16, short=_short(bar.label, 10)))
    return _svg(width, HEIGHT, title, body)
