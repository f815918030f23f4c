"""QR codes for deep links: a coordinator prints one on a poster, a colleague scans it and lands on the session."""

from __future__ import annotations

import io

# Big enough to scan from a printed A4 poster, small enough for Telegram's photo limits.
SCALE = 10
BORDER = 4


def qr_png(data: str, *, scale: int = SCALE) -> bytes:
    """A PNG of the QR code for `data` (medium error correction survives a creased poster)."""
    import segno  # on first use: a rare coordinator action need not weigh on every process

    code = segno.make(data, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=BORDER)
    return buffer.getvalue()
