#!/usr/bin/python3
"""Pixel statistics of a PNG screenshot, standard library only (no PIL), for
tests/test_report_render.sh.

    png_check.py FILE [#rrggbb ...]

Prints "WIDTH HEIGHT DISTINCT_COLOURS NON_WHITE_FRACTION" and then, per colour
asked for, "#rrggbb COUNT" (pixels of exactly that colour). Handles 8-bit RGB
and RGBA, non-interlaced (what Chromium writes); exits 2 on anything else.
"""
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d colour type %d interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
            elif ftype != 0:
                raise ValueError("bad filter type %d" % ftype)
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    try:
        width, height, bpp, rows = read_png(sys.argv[1])
    except (OSError, ValueError, zlib.error, TypeError, struct.error) as e:
        print("png_check: %s" % e)
        sys.exit(2)
    counts = {}
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    white = counts.get(b"\xff\xff\xff", 0)
    print("%d %d %d %.4f" % (width, height, len(counts), 1 - white / float(width * height)))
    for colour in sys.argv[2:]:
        key = bytes.fromhex(colour.lstrip("#"))
        print("%s %d" % (colour, counts.get(key, 0)))


if __name__ == "__main__":
    main()
