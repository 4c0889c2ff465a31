"""Charts drawn on the server: every text escaped, bars sized to their values, no inline
style, nothing for no data."""

from __future__ import annotations

import re

from market.console.charts import Bar, bar_chart, column_chart


def test_bars_are_sized_to_their_values_and_every_text_is_escaped() -> None:
    svg = str(bar_chart([Bar('<script>"交通"&', 10, "1.00 CNY"), Bar("金融", 5, "0.50 CNY")],
                        title='Volume "<x>"'))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert 'aria-label="Volume &#34;&lt;x&gt;&#34;"' in svg
    widths = [int(w) for w in re.findall(r'class="bar" x="\d+" y="\d+" width="(\d+)"', svg)]
    assert widths == [220, 110]  # the largest fills the span; half is half
    assert ">1.00 CNY</text>" in svg
    assert ">0.50 CNY</text>" in svg
    assert "style=" not in svg


def test_columns_follow_the_order_given_and_long_labels_are_shortened() -> None:
    svg = str(column_chart([Bar("2026-10", 1, "1"), Bar("2026-11", 3, "3"),
                            Bar("一个很长很长很长的标签", 0, "0")], title="Trades"))
    assert re.findall(r'class="label"[^>]*>([^<]+)<', svg) == ["2026-10", "2026-11",
                                                               "一个很长很长很长的…"]
    heights = [int(h) for h in re.findall(r'height="(\d+)"/>', svg)]
    assert heights[0] == round(heights[1] / 3)  # a third of the tallest
    assert heights[2] == 0
    assert "一个很长很长很长的标签" in svg  # whole in the tooltip


def test_no_data_draws_nothing() -> None:
    assert str(bar_chart([], title="x")) == ""
    assert str(column_chart([], title="x")) == ""
