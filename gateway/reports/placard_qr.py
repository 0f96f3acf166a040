"""The placard's QR code: the address of its public check page, drawn as squares on the placard's surface.

Each placard of a graded estate carries a random serial (gateway/store/placards.py); its QR code leads to
``{public_url}/p/{serial}`` (gateway/api/routers/placards.py), where a resident sees whether the placard on
the wall still shows the estate's current colour and date. ``public_url`` is ``[api] public_url``, or the
address the placard was requested at (docs/reports.md).

The code is made by segno (pure Python, no image library of its own) and drawn module by module through
the placard's drawing surface, so the PDF and the PNG carry the same code.
"""

from __future__ import annotations

from typing import Protocol

RGB = tuple[int, int, int]


class Rects(Protocol):
    def rect(self, x: float, y: float, w: float, h: float, fill: RGB, radius: float = 0.0) -> None: ...


def check_url(public_url: str, serial: str) -> str:
    """The public check page of a placard: ``{public_url}/p/{serial}``."""
    return f"{public_url.rstrip('/')}/p/{serial}"


def draw_qr(s: Rects, url: str, x0: float, y0: float, side: float, ink: RGB) -> None:
    """The QR code of ``url`` (error correction M) in a square of ``side`` points at ``x0, y0`` (top-left):
    dark modules as horizontal runs of squares; the quiet zone is the page's white around it."""
    import segno

    rows = segno.make_qr(url, error="m").matrix
    module = side / len(rows)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            s.rect(x0 + start * module, y0 + r * module, (c - start) * module, module, ink)
