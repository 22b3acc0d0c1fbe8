"""Reading a QR code back from a PNG, as a phone camera would: the mails' check-in codes.

``zxing-cpp`` decodes; it takes grey pixels, and there is no imaging library
in the environment, so the PNG (greyscale or palette, 1 to 8 bits, as
``segno`` writes it) is unpacked here with ``zlib``: a dozen lines of the
PNG specification rather than a dependency.
"""

from __future__ import annotations

import struct
import zlib

import zxingcpp

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_QR = zxingcpp.barcode_formats_from_str("QRCode")


def read_qr(png: bytes) -> str | None:
    """The text of the QR code in ``png``, or None when no code can be read."""
    width, height, pixels = grey_pixels(png)
    image = memoryview(pixels).cast("B", (height, width))
    barcode = zxingcpp.read_barcode(image, formats=_QR)
    return barcode.text if barcode is not None else None


def grey_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and one byte of luminance a pixel, of a non-interlaced greyscale PNG."""
    if not png.startswith(_SIGNATURE):
        raise ValueError("not a PNG")
    chunks = _chunks(png[len(_SIGNATURE) :])
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    if colour not in (0, 3) or interlace:
        raise ValueError("only greyscale or palette PNGs without interlacing")
    palette = chunks.get(b"PLTE", [b""])[0]
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    stride = (width * depth + 7) // 8
    rows = _unfilter(raw, stride, height, max(depth // 8, 1))
    out = bytearray()
    for row in rows:
        for x in range(width):
            bit = x * depth
            value = (row[bit // 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
            if colour == 3:
                red, green, blue = palette[3 * value : 3 * value + 3]
                out.append((red * 299 + green * 587 + blue * 114) // 1000)
            else:
                out.append(value * 255 // ((1 << depth) - 1))
    return width, height, bytes(out)


def _chunks(data: bytes) -> dict[bytes, list[bytes]]:
    chunks: dict[bytes, list[bytes]] = {}
    while data:
        (length,) = struct.unpack(">I", data[:4])
        kind, content = data[4:8], data[8 : 8 + length]
        chunks.setdefault(kind, []).append(content)
        data = data[12 + length :]
    return chunks


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    """Undo the PNG row filters (none, sub, up, average, Paeth)."""
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    near_left, near_up, near_corner = (
        abs(estimate - left),
        abs(estimate - up),
        abs(estimate - corner),
    )
    if near_left <= near_up and near_left <= near_corner:
        return left
    return up if near_up <= near_corner else corner
