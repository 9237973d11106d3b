"""Hand-written SVG chart: per scenario, throughput and p99 latency per peer (no libraries).

Each scenario gets its own scale (req/s of `upload-1m` and `small` differ by 100x); bars are
labelled with their values, so the chart reads without the table.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

COLORS = {"direct": "#9e9e9e", "sluice": "#e07b00", "nginx": "#2e7d32", "haproxy": "#1565c0"}
WIDTH = 960
LABEL_W = 120
PANEL_W = 360
GAP = 40
BAR_H = 16
BAR_GAP = 4


def _fmt_rps(v: float) -> str:
    return "{:,.0f}".format(v)


def _fmt_us(v: float) -> str:
    return "%.0f us" % v if v < 1000 else "%.2f ms" % (v / 1000)


def chart(rows: list[tuple[str, list[tuple[str, float, float]]]], title: str) -> str:
    """rows: [(scenario, [(peer, req_per_s, p99_us), ...]), ...]"""
    out = []
    y = 60
    for scenario, peers in rows:
        n = len(peers)
        block = 22 + n * (BAR_H + BAR_GAP) + 14
        out.append('<text x="10" y="%d" class="scn">%s</text>' % (y + 14, escape(scenario)))
        max_rps = max((p[1] for p in peers), default=0) or 1
        max_p99 = max((p[2] for p in peers), default=0) or 1
        for i, (peer, rps, p99) in enumerate(peers):
            by = y + 22 + i * (BAR_H + BAR_GAP)
            color = COLORS.get(peer, "#6a1b9a")
            out.append('<text x="%d" y="%d" class="peer">%s</text>'
                       % (LABEL_W - 6, by + BAR_H - 4, escape(peer)))
            for x0, value, top, text in (
                (LABEL_W, rps, max_rps, _fmt_rps(rps) + " req/s"),
                (LABEL_W + PANEL_W + GAP, p99, max_p99, "p99 " + _fmt_us(p99)),
            ):
                w = max(1.0, (PANEL_W - 110) * value / top)
                out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                           % (x0, by, w, BAR_H, color))
                out.append('<text x="%.1f" y="%d" class="val">%s</text>'
                           % (x0 + w + 4, by + BAR_H - 4, escape(text)))
        out.append('<line x1="10" x2="%d" y1="%d" y2="%d" class="sep"/>'
                   % (WIDTH - 10, y + block - 4, y + block - 4))
        y += block
    height = y + 10
    head = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">'
        % (WIDTH, height, WIDTH, height),
        "<style>text{font-family:sans-serif;font-size:12px;fill:#222}"
        ".title{font-size:15px;font-weight:bold}.scn{font-weight:bold}"
        ".peer{text-anchor:end}.val{font-size:11px}.hdr{font-size:12px;fill:#555}"
        ".sep{stroke:#ddd;stroke-width:1}</style>",
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="22" class="title">%s</text>' % escape(title),
        '<text x="%d" y="48" class="hdr">throughput (req/s, higher is better)</text>' % LABEL_W,
        '<text x="%d" y="48" class="hdr">p99 latency (lower is better)</text>'
        % (LABEL_W + PANEL_W + GAP),
    ]
    return "\n".join(head + out + ["</svg>"]) + "\n"
