"""QR symbols drawn on the server as inline SVG (the staff console and the member page)."""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from markupsafe import Markup


def qr_svg(code: str, label: str) -> Markup:
    """`code` as a QR symbol in inline SVG, labelled for screen readers."""
    image = qrcode.make(code, image_factory=qrcode.image.svg.SvgPathImage)
    svg = str(image.to_string(encoding="unicode"))
    attrs = f'<svg class="qr-svg" role="img" aria-label="{Markup.escape(label)}" '
    return Markup(svg.replace("<svg ", attrs, 1))
