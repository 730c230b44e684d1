"""Server-rendered SVG charts for the admin pages: plain functions, no JavaScript, no chart library.

Each function takes plain data (the cache-stats JSON the selectors already
return, so a chart never computes a figure differently from the API) and
returns a `SafeString` of one `<svg>`. Every text in it is escaped; every bar
and point carries a `<title>` (the browser's tooltip) and `data-` attributes
(what tests read).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from pricing.costs import percent, usd

WIDTH = 720
HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 52, 16, 34
SAVINGS_COLOR = "#2e7d32"
LOSS_COLOR = "#c62828"
HIT_RATE_COLOR = "#1565c0"
SPEND_COLOR = "#546e7a"


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (an axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** (len(str(int(value))) - 1) if value >= 1 else 1.0
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _svg(body: Iterable[str], *, label: str, css_class: str, height: int = HEIGHT) -> SafeString:
    return mark_safe(  # every interpolated text is escaped by the callers
        f'<svg class="{css_class}" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="sans-serif" font-size="11">' + "".join(body) + "</svg>"
    )


def daily_savings_chart(by_day: Sequence[dict], *, label: str = "Daily net savings and hit rate") -> SafeString:
    """Bars of each day's net savings (USD; red below zero when write premiums outweigh reads) and a line of
    its cache hit rate (right axis, 0-100 %), from the `by_day` rows of the cache-stats JSON."""
    if not by_day:
        return _svg(['<text x="20" y="40">No invocations in this period.</text>'], label=label, css_class="chart")
    savings = [float(Decimal(str(row["net_savings"]))) for row in by_day]
    top = _nice_top(max([*savings, 0.0]))
    bottom = -_nice_top(-min(savings)) if min(savings) < 0 else 0.0
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_money(value: float) -> float:
        return PAD_TOP + (top - value) / (top - bottom) * plot_h

    def y_rate(fraction: float) -> float:
        return PAD_TOP + (1 - fraction) * plot_h

    step = plot_w / len(by_day)
    bar_w = max(1.0, step * 0.7)
    zero = y_money(0.0)
    body = [
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" stroke="#999"/>',
        f'<line x1="{PAD_LEFT}" y1="{zero:.1f}" x2="{PAD_LEFT + plot_w}" y2="{zero:.1f}" stroke="#999"/>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 4}" text-anchor="end">{escape(usd(top))}</text>',
        f'<text x="{PAD_LEFT - 6}" y="{zero + 4:.1f}" text-anchor="end">$0</text>',
        f'<text x="{WIDTH - PAD_RIGHT + 6}" y="{PAD_TOP + 4}">100%</text>',
        f'<text x="{WIDTH - PAD_RIGHT + 6}" y="{PAD_TOP + plot_h}">0%</text>',
    ]
    if bottom < 0:
        body.append(f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" text-anchor="end">{escape(usd(bottom))}</text>')
    points = []
    for index, (row, value) in enumerate(zip(by_day, savings, strict=True)):
        x = PAD_LEFT + index * step + (step - bar_w) / 2
        y_top, y_bottom = sorted((y_money(value), zero))
        bar_h = max(y_bottom - y_top, 0)
        day = escape(row["day"])
        hit_rate = float(row.get("hit_rate") or 0)
        tip = escape(f"{row['day']}: net savings {usd(value)}, hit rate {percent(hit_rate)}")
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{y_top:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" '
            f'fill="{SAVINGS_COLOR if value >= 0 else LOSS_COLOR}" data-day="{day}" '
            f'data-net-savings="{escape(row["net_savings"])}"><title>{tip}</title></rect>'
        )
        if row.get("caching_enabled_invocations"):
            points.append((PAD_LEFT + index * step + step / 2, y_rate(hit_rate), day, hit_rate, tip))
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, *_ in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{HIT_RATE_COLOR}" stroke-width="2"/>')
        for x, y, day, hit_rate, tip in points:
            body.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{HIT_RATE_COLOR}" '
                f'data-day="{day}" data-hit-rate="{hit_rate}"><title>{tip}</title></circle>'
            )
    labels = {0, len(by_day) - 1} | ({len(by_day) // 2} if len(by_day) > 2 else set())
    for index in sorted(labels):
        x = PAD_LEFT + index * step + step / 2
        day = escape(by_day[index]["day"])
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle">{day}</text>')
    body.append(
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 4}" fill="{SAVINGS_COLOR}">■ net savings (USD)</text>'
        f'<text x="{PAD_LEFT + 170}" y="{HEIGHT - 4}" fill="{HIT_RATE_COLOR}">● hit rate</text>'
    )
    return _svg(body, label=label, css_class="chart chart-daily")


def bar_list_chart(
    rows: Sequence[tuple[str, object]], *, label: str, value_format=usd, color: str | None = None
) -> SafeString:
    """Horizontal bars, one per (name, amount) row, largest first as given (top agents, model families)."""
    row_h = 24
    height = max(row_h * len(rows) + 8, 40)
    if not rows:
        return _svg(['<text x="20" y="24">Nothing to show yet.</text>'], label=label, css_class="chart", height=40)
    values = [float(Decimal(str(value))) for _, value in rows]
    top = _nice_top(max([abs(v) for v in values] + [0.0]))
    name_w, value_w = 200, 90
    plot_w = WIDTH - name_w - value_w
    body = []
    for index, ((name, raw), value) in enumerate(zip(rows, values, strict=True)):
        y = 4 + index * row_h
        width = abs(value) / top * plot_w
        tip = escape(f"{name}: {value_format(raw)}")
        body.append(
            f'<text x="{name_w - 8}" y="{y + 15}" text-anchor="end">{escape(str(name)[:32])}</text>'
            f'<rect class="bar" x="{name_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" '
            f'fill="{color or (SAVINGS_COLOR if value >= 0 else LOSS_COLOR)}" data-name="{escape(name)}" '
            f'data-value="{escape(raw)}"><title>{tip}</title></rect>'
            f'<text x="{name_w + width + 6:.1f}" y="{y + 15}">{escape(value_format(raw))}</text>'
        )
    return _svg(body, label=label, css_class="chart chart-bars", height=height)


def trend_chart(
    buckets: Sequence[dict], *, grain: str, caching: bool = True, label: str = "Spend, net savings and hit rate"
) -> SafeString:
    """Bars of each bucket's spend (`cost`: input with cache plus output), a line of its net savings on the same
    USD axis, and a line of its hit rate (right axis, 0-100 %, only where caching was on), from rows of the
    cache-stats JSON with a `label` each (an hour or a day: `grain`). `caching=False` (nothing could cache):
    spend alone, with no savings line or hit-rate axis to read as zeros."""
    if not buckets:
        return _svg(['<text x="20" y="40">No invocations in this period.</text>'], label=label, css_class="chart")
    spend = [float(Decimal(str(b["cost"]))) for b in buckets]
    savings = [float(Decimal(str(b["net_savings"]))) for b in buckets]
    top = _nice_top(max([*spend, *savings, 0.0]))
    low = min([*savings, 0.0])
    bottom = -_nice_top(-low) if low < 0 else 0.0
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_money(value: float) -> float:
        return PAD_TOP + (top - value) / (top - bottom) * plot_h

    step = plot_w / len(buckets)
    bar_w = max(1.0, step * 0.7)
    zero = y_money(0.0)
    body = [
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" stroke="#999"/>',
        f'<line x1="{PAD_LEFT}" y1="{zero:.1f}" x2="{PAD_LEFT + plot_w}" y2="{zero:.1f}" stroke="#999"/>',
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 4}" text-anchor="end">{escape(usd(top))}</text>',
        f'<text x="{PAD_LEFT - 6}" y="{zero + 4:.1f}" text-anchor="end">$0</text>',
    ]
    if caching:
        body.append(f'<text x="{WIDTH - PAD_RIGHT + 6}" y="{PAD_TOP + 4}">100%</text>')
        body.append(f'<text x="{WIDTH - PAD_RIGHT + 6}" y="{PAD_TOP + plot_h}">0%</text>')
    if bottom < 0:
        body.append(f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" text-anchor="end">{escape(usd(bottom))}</text>')
    savings_points, rate_points = [], []
    for index, (bucket, cost, saved) in enumerate(zip(buckets, spend, savings, strict=True)):
        x = PAD_LEFT + index * step + (step - bar_w) / 2
        middle = PAD_LEFT + index * step + step / 2
        name = escape(bucket["label"])
        hit_rate = float(bucket.get("hit_rate") or 0)
        caching = bool(bucket.get("caching_enabled_invocations"))
        tip = escape(
            f"{bucket['label']}: spend {usd(cost)}, net savings {usd(saved)}"
            + (f", hit rate {percent(hit_rate)}" if caching else "")
        )
        height = max(zero - y_money(cost), 0)
        body.append(
            f'<rect class="bar spend" x="{x:.1f}" y="{zero - height:.1f}" width="{bar_w:.1f}" '
            f'height="{height:.1f}" fill="{SPEND_COLOR}" data-bucket="{name}" data-cost="{escape(bucket["cost"])}" '
            f'data-net-savings="{escape(bucket["net_savings"])}"><title>{tip}</title></rect>'
        )
        savings_points.append((middle, y_money(saved)))
        if caching:
            rate_points.append((middle, PAD_TOP + (1 - hit_rate) * plot_h, name, hit_rate, tip))
    if caching:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in savings_points)
        body.append(
            f'<polyline class="savings" points="{path}" fill="none" stroke="{SAVINGS_COLOR}" stroke-width="2"/>'
        )
    if caching and rate_points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, *_ in rate_points)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{HIT_RATE_COLOR}" stroke-width="1.5" '
            f'stroke-dasharray="4 3"/>'
        )
        for x, y, name, hit_rate, tip in rate_points:
            body.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{HIT_RATE_COLOR}" '
                f'data-bucket="{name}" data-hit-rate="{hit_rate}"><title>{tip}</title></circle>'
            )
    labels = {0, len(buckets) - 1} | ({len(buckets) // 2} if len(buckets) > 2 else set())
    for index in sorted(labels):
        x = PAD_LEFT + index * step + step / 2
        anchor = "start" if index == 0 and len(buckets) > 1 else "end" if index == len(buckets) - 1 else "middle"
        text = escape(buckets[index]["label"])
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="{anchor}">{text}</text>')
    per = "hour" if grain == "hour" else "day"
    body.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 4}" fill="{SPEND_COLOR}">■ spend per {per} (USD)</text>')
    if caching:
        body.append(
            f'<text x="{PAD_LEFT + 190}" y="{HEIGHT - 4}" fill="{SAVINGS_COLOR}">— net savings</text>'
            f'<text x="{PAD_LEFT + 310}" y="{HEIGHT - 4}" fill="{HIT_RATE_COLOR}">● hit rate</text>'
        )
    return _svg(body, label=label, css_class=f"chart chart-trend chart-{grain}")
