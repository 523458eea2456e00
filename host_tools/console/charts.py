"""Charts drawn on the server as SVG (no chart library in the browser): a bar chart of values
per label, e.g. a meter's kWh per day. Missing values leave a gap and are marked as such."""
from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 56, 28, 12


def nice_top(value):
    """A round axis maximum at or above value (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(points, unit, title):
    """SVG markup for [(label, value or None)]; every bar has a <title> with its value."""
    values = [v for _, v in points if v is not None]
    top = nice_top(max(values) if values else 0)
    plot_w, plot_h = WIDTH - MARGIN_LEFT - 8, HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    slot = plot_w / max(1, len(points))
    parts = ['<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" '
             'data-bars="%d">' % (WIDTH, HEIGHT, escape(title), len(values))]
    for fraction in (0, 0.5, 1):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append('<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>'
                     % (MARGIN_LEFT, WIDTH - 8, y, y))
        parts.append('<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>'
                     % (MARGIN_LEFT - 6, y + 4, _number(top * fraction)))
    parts.append('<text class="axis" x="4" y="%d">%s</text>' % (MARGIN_TOP + 4, escape(unit)))
    for index, (label, value) in enumerate(points):
        x = MARGIN_LEFT + index * slot
        if value is None:
            parts.append('<text class="missing" x="%.1f" y="%.1f" text-anchor="middle">'
                         '<title>%s: no value</title>?</text>'
                         % (x + slot / 2, MARGIN_TOP + plot_h - 2, escape(label)))
        else:
            height = max(0.0, plot_h * max(value, 0) / top)
            parts.append('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f">'
                         '<title>%s: %s %s</title></rect>'
                         % (x + slot * 0.15, MARGIN_TOP + plot_h - height, slot * 0.7, height,
                            escape(label), _number(value), escape(unit)))
        if index % max(1, len(points) // 6) == 0:
            parts.append('<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>'
                         % (x + slot / 2, HEIGHT - 8, escape(label[5:] if len(label) == 10
                                                            else label)))
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value):
    return ("%.2f" % value).rstrip("0").rstrip(".") if value % 1 else "%d" % value
