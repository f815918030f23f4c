"""Result charts as PNG bytes (matplotlib, Agg backend, no display needed).

Only matplotlib's object API is used (no pyplot global state), so charts can be drawn in a
worker thread (`asyncio.to_thread`) without blocking the bot. matplotlib is imported on first
use: it is slow to load and most processes never draw a chart.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

BLUE, GREEN, AMBER, GREY = "#2f6db5", "#2e9e5b", "#f0a030", "#c8ccd2"


def _figure(rows: int) -> Any:  # a matplotlib Figure (matplotlib is untyped here)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, max(2.4, 0.55 * rows + 1.4)), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _label(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(text, width)[:2]) or " "


def bar_chart(title: str, labels: Sequence[str], counts: Sequence[int], value_labels: Sequence[str]) -> bytes:
    """One horizontal bar per option with its (localized) "2 (67 %)" at its end, first option on top."""
    fig = _figure(len(labels))
    ax = fig.add_subplot()
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, counts, color=BLUE)
    ax.set_yticks(positions, [_label(label) for label in labels])
    top = max(counts, default=0)
    ax.set_xlim(0, max(top * 1.25, 1))
    for y, n, text in zip(positions, counts, value_labels, strict=True):
        ax.text(n + max(top, 1) * 0.02, y, text, va="center")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(_label(title, 70))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def stacked_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> bytes:
    """Date-poll grid: per slot, stacked "oui" / "si besoin" / "non" (legend names given)."""
    fig = _figure(len(labels))
    ax = fig.add_subplot()
    positions = list(range(len(labels)))[::-1]
    left = [0] * len(labels)
    for (name, values), colour in zip(series, (GREEN, AMBER, GREY), strict=False):
        ax.barh(positions, values, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(positions, [_label(label) for label in labels])
    ax.set_xlim(0, max(max(left, default=0), 1) * 1.1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
    ax.set_title(_label(title, 70))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)
