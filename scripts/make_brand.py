"""Generate the Meterit brand images (icon and logo) for Home Assistant.

The mark is an original design: a 270 degree meter dial with a teal-to-green
gradient ring, dial ticks and a lightning-bolt needle. The logo places the mark
next to the lowercase word "meterit".

Everything is drawn at a large working resolution and downsampled with a
Lanczos filter for smooth anti-aliasing. Output follows the Home Assistant
brand guidelines: transparent background, trimmed to content, a square icon
(256x256 plus a 512x512 ``@2x`` variant), a landscape logo 128 pixels high
(plus a 256 pixels high ``@2x`` variant) and optimised PNG files.

Run from the repository root::

    .venv/bin/python scripts/make_brand.py
"""

# ruff: noqa: INP001  -- standalone script; scripts/ is intentionally not a package

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

type RGB = tuple[int, int, int]
type Point = tuple[float, float]

BRAND_DIR = Path(__file__).resolve().parents[1] / "custom_components" / "meterit" / "brand"

# Palette: teal -> green for the ring, a deep teal for the details and wordmark.
TEAL: RGB = (13, 148, 168)
GREEN: RGB = (52, 199, 104)
DEEP_TEAL: RGB = (14, 112, 128)
NEEDLE_END: RGB = (20, 140, 104)
WORD_GREEN: RGB = (34, 170, 92)

CANVAS = 2048  # working resolution of the mark
DIAL_START = 135.0  # PIL angles: degrees clockwise from 3 o'clock
DIAL_END = 405.0
NEEDLE_ANGLE = 30.0  # degrees clockwise from 12 o'clock, between two ticks
TICKS = 5

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/local/share/fonts/DejaVuSans-Bold.ttf",
    "DejaVuSans-Bold.ttf",
)

type Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _gradient(size: tuple[int, int], start: RGB, end: RGB) -> Image.Image:
    """Return an RGBA image with a diagonal gradient from ``start`` to ``end``."""
    ramp = Image.linear_gradient("L").rotate(45, resample=Image.Resampling.BICUBIC, expand=True)
    inset = ramp.width // 4
    ramp = ramp.crop((inset, inset, ramp.width - inset, ramp.height - inset))
    mask = ramp.transpose(Image.Transpose.ROTATE_90).resize(size, Image.Resampling.BICUBIC)
    first = Image.new("RGBA", size, (*start, 255))
    second = Image.new("RGBA", size, (*end, 255))
    return Image.composite(second, first, mask)


def _polar(center: Point, radius: float, angle_deg: float) -> Point:
    """Return the point at ``radius`` and PIL ``angle_deg`` around ``center``."""
    rad = math.radians(angle_deg)
    return center[0] + radius * math.cos(rad), center[1] + radius * math.sin(rad)


def _disc(draw: ImageDraw.ImageDraw, center: Point, radius: float, fill: int | RGB) -> None:
    """Draw a filled circle."""
    x, y = center
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


def _bolt(center: Point, length: float, width: float, angle_deg: float) -> list[Point]:
    """Return the polygon of a lightning bolt rooted at ``center``.

    ``angle_deg`` is measured clockwise from 12 o'clock; the bolt tip points that way.
    """
    theta = math.radians(angle_deg)
    along = (math.sin(theta), -math.cos(theta))
    across = (math.cos(theta), math.sin(theta))
    # (across, along) in units of (width, length); tip at along=1, tail behind the hub.
    shape = (
        (0.08, 1.00),
        (-0.50, 0.36),
        (-0.08, 0.40),
        (-0.22, 0.00),
        (0.50, 0.60),
        (0.08, 0.55),
    )
    return [
        (
            center[0] + u * width * across[0] + v * length * along[0],
            center[1] + u * width * across[1] + v * length * along[1],
        )
        for u, v in shape
    ]


def draw_mark(size: int = CANVAS) -> Image.Image:
    """Draw the dial mark on a transparent square canvas of ``size`` pixels."""
    mark = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    center: Point = (size / 2, size / 2 + size * 0.06)
    outer = size * 0.46
    ring = size * 0.13

    # Gradient ring with rounded caps, stroked as overlapping discs for clean ends.
    ring_mask = Image.new("L", (size, size), 0)
    ring_draw = ImageDraw.Draw(ring_mask)
    steps = 1080
    for step in range(steps + 1):
        angle = DIAL_START + step * (DIAL_END - DIAL_START) / steps
        _disc(ring_draw, _polar(center, outer - ring / 2, angle), ring / 2, 255)
    mark.paste(_gradient((size, size), TEAL, GREEN), (0, 0), ring_mask)

    draw = ImageDraw.Draw(mark)

    # Dial ticks inside the ring.
    tick_outer = outer - ring - size * 0.035
    for step in range(TICKS):
        angle = DIAL_START + step * (DIAL_END - DIAL_START) / (TICKS - 1)
        major = step in {0, TICKS // 2, TICKS - 1}
        tick_inner = tick_outer - size * (0.085 if major else 0.06)
        start = _polar(center, tick_outer, angle)
        end = _polar(center, tick_inner, angle)
        width = round(size * (0.03 if major else 0.022))
        draw.line((start, end), fill=DEEP_TEAL, width=width)
        for point in (start, end):
            _disc(draw, point, width / 2, DEEP_TEAL)

    # Lightning-bolt needle with a hub.
    needle_mask = Image.new("L", (size, size), 0)
    needle_draw = ImageDraw.Draw(needle_mask)
    needle_draw.polygon(_bolt(center, size * 0.33, size * 0.19, NEEDLE_ANGLE), fill=255)
    _disc(needle_draw, center, size * 0.08, 255)
    _disc(needle_draw, center, size * 0.032, 0)
    mark.paste(_gradient((size, size), DEEP_TEAL, NEEDLE_END), (0, 0), needle_mask)
    return mark


def _load_font(size: int) -> Font:
    """Return a bold sans-serif font, falling back to Pillow's built-in font."""
    for candidate in FONT_CANDIDATES:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _trim(image: Image.Image) -> Image.Image:
    """Crop ``image`` to the bounding box of its non-transparent pixels."""
    bbox = image.getchannel("A").point(lambda alpha: 255 if alpha > 8 else 0).getbbox()
    return image.crop(bbox) if bbox else image


def _square(image: Image.Image) -> Image.Image:
    """Centre ``image`` on the smallest transparent square that contains it."""
    side = max(image.size)
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def build_icon(side: int) -> Image.Image:
    """Return the square icon with ``side`` pixels."""
    return _square(_trim(draw_mark())).resize((side, side), Image.Resampling.LANCZOS)


def build_logo_master() -> Image.Image:
    """Return the trimmed logo (mark plus wordmark) at working resolution."""
    mark = _trim(draw_mark())
    height = mark.height
    font = _load_font(round(height * 0.78))
    parts: tuple[tuple[str, RGB], ...] = (("meter", DEEP_TEAL), ("it", WORD_GREEN))

    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    full = "".join(text for text, _ in parts)
    left, top, right, bottom = (round(v) for v in probe.textbbox((0, 0), full, font=font))
    gap = round(height * 0.16)
    width = mark.width + gap + (right - left)
    canvas = Image.new("RGBA", (width, max(height, bottom - top)), (0, 0, 0, 0))
    canvas.paste(mark, (0, (canvas.height - height) // 2), mark)

    draw = ImageDraw.Draw(canvas)
    # Vertically centre the x-height-heavy lowercase word on the dial centre.
    x = float(mark.width + gap - left)
    y = (canvas.height - (bottom - top)) / 2 - top
    for text, color in parts:
        draw.text((x, y), text, font=font, fill=(*color, 255))
        x += draw.textlength(text, font=font)
    return _trim(canvas)


def build_logo(height: int, master: Image.Image) -> Image.Image:
    """Return the logo scaled to ``height`` pixels (width rounded to an even number)."""
    width = round(master.width * height / master.height / 2) * 2
    return master.resize((width, height), Image.Resampling.LANCZOS)


def _save(image: Image.Image, name: str) -> None:
    """Save ``image`` as an optimised PNG in the brand directory."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    image.save(BRAND_DIR / name, format="PNG", optimize=True)


def main() -> None:
    """Write icon.png, icon@2x.png, logo.png and logo@2x.png."""
    _save(build_icon(256), "icon.png")
    _save(build_icon(512), "icon@2x.png")
    master = build_logo_master()
    _save(build_logo(128, master), "logo.png")
    _save(build_logo(256, master), "logo@2x.png")


if __name__ == "__main__":
    main()
