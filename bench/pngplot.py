"""A small line plot written as PNG with the standard library (no plotting dependency).

Lines with point markers, dashed horizontal target lines, ticks and labels in a 3×5 pixel
font (upper case, digits, a few signs). Values above the y range are drawn at its top.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

Color = tuple[int, int, int]

# 3×5 glyphs, rows top to bottom, "1" = ink.
_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001010010", "8": "111101111101111",
    "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "=": "000111000111000", "<": "001010100010001", ">": "100010001010100",
    "(": "010100100100010", ")": "010001001001010", "/": "001001010100100",
    "%": "101001010100101", ":": "000010000010000", ",": "000000000010100",
    " ": "000000000000000", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011",
    "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
}  # fmt: skip

BLACK: Color = (0, 0, 0)
GREY: Color = (200, 200, 200)
WHITE: Color = (255, 255, 255)
PALETTE: tuple[Color, ...] = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


@dataclass(frozen=True)
class Series:
    """One line: ``ys[i]`` at ``xs[i]``; NaN values are skipped."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: Color


@dataclass(frozen=True)
class Target:
    """A dashed horizontal line at ``y``."""

    label: str
    y: float
    color: Color


class Canvas:
    """An RGB raster with the few drawing operations a line plot needs."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(WHITE * (width * height))

    def dot(self, x: int, y: int, color: Color, size: int = 1) -> None:
        for dx in range(size):
            for dy in range(size):
                px, py = x + dx - size // 2, y + dy - size // 2
                if 0 <= px < self.width and 0 <= py < self.height:
                    i = 3 * (py * self.width + px)
                    self.pixels[i : i + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1, dash: int = 0) -> None:  # fmt: skip
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            if dash and (s // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * s / steps)
            y = round(y0 + (y1 - y0) * s / steps)
            self.dot(x, y, color, width)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> int:
        """Write ``text`` with its top-left corner at (x, y); return its width."""
        for k, char in enumerate(text.upper()):
            glyph = _GLYPHS.get(char, _GLYPHS[" "])
            for bit, ink in enumerate(glyph):
                if ink == "1":
                    gx, gy = x + k * 4 * scale + (bit % 3) * scale, y + (bit // 3) * scale
                    for dx in range(scale):
                        for dy in range(scale):
                            self.dot(gx + dx, gy + dy, color)
        return len(text) * 4 * scale

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        row = 3 * self.width
        raw = b"".join(
            b"\0" + bytes(self.pixels[y * row : (y + 1) * row]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def line_plot(
    path: Path,
    series: Sequence[Series],
    targets: Sequence[Target] = (),
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    ymax: float | None = None,
    size: tuple[int, int] = (760, 480),
) -> None:
    """Write a PNG line plot of ``series`` (x ticks at the series' x values) to ``path``."""
    width, height = size
    canvas = Canvas(width, height)
    left, right, top, bottom = 70, 20, 56, height - 130
    xs = sorted({x for s in series for x in s.xs})
    values = [y for s in series for y in s.ys if not math.isnan(y)] + [t.y for t in targets]
    top_value = max(values, default=1.0) * 1.1 or 1.0
    ymax = min(ymax, top_value) if ymax else top_value
    step = _nice_step(ymax)
    ymax = math.ceil(ymax / step) * step
    x_lo, x_hi = (xs[0], xs[-1]) if len(xs) > 1 else (xs[0] - 1, xs[0] + 1)

    def px(x: float) -> int:
        return round(left + (x - x_lo) / (x_hi - x_lo) * (width - left - right))

    def py(y: float) -> int:
        return round(bottom - min(y, ymax) / ymax * (bottom - top))

    canvas.text(left, 10, title)
    y = 0.0
    while y <= ymax + 1e-9:
        canvas.line(left, py(y), width - right, py(y), GREY)
        label = f"{y:g}"
        canvas.text(left - 10 - len(label) * 8, py(y) - 5, label)
        y += step
    for x in xs:
        canvas.line(px(x), bottom, px(x), bottom + 5, BLACK)
        label = f"{x:g}"
        canvas.text(px(x) - len(label) * 4, bottom + 10, label)
    canvas.line(left, top, left, bottom, BLACK, 2)
    canvas.line(left, bottom, width - right, bottom, BLACK, 2)
    canvas.text((width - len(xlabel) * 8) // 2, bottom + 28, xlabel)
    canvas.text(8, top - 22, ylabel)
    for target in targets:
        canvas.line(left, py(target.y), width - right, py(target.y), target.color, 2, dash=8)
    for s in series:
        points = [(px(x), py(y)) for x, y in zip(s.xs, s.ys, strict=True) if not math.isnan(y)]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            canvas.line(x0, y0, x1, y1, s.color, 2)
        for x, y in points:
            canvas.dot(x, y, s.color, 7)
    legend_y = bottom + 52
    for k, entry in enumerate([*series, *targets]):
        x = left + (k % 2) * (width - left) // 2
        y = legend_y + (k // 2) * 18
        canvas.line(x, y + 5, x + 24, y + 5, entry.color, 3, dash=8 if entry in targets else 0)
        canvas.text(x + 32, y, entry.label)
    path.write_bytes(canvas.png())
