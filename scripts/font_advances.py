"""Write runbook/outputs/font_advances.py from the DejaVu font files the PDFs are set in.

    python scripts/font_advances.py           # (re)write the module
    python scripts/font_advances.py --check   # exit 1 if the module is not what it writes

For each character the bound is its glyph's advance (hmtx) plus the largest positive kerning
it can take (GPOS pair and single adjustments, the kern table; a ligature wider than its
letters), counted so that a sum of bounds is never less than the width Typst sets the string
in, whatever the neighbours (_widths). Typst sets "AA" 0.712 em per "A" (an advance of 0.684
and a kerning of 0.028 em): a table of advances alone let a run of capitals overflow its cell.
No Python font library is needed: the few tables read are parsed here.
"""

from __future__ import annotations

import json
import struct
import sys
import textwrap
from collections.abc import Iterable, Iterator
from fractions import Fraction
from math import ceil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "runbook" / "outputs" / "font_advances.py"
# Bold text is fitted as regular text to a width divided by this (_common.typ's bold-width,
# documents._advance): the table holds each bold bound divided by it where that is larger.
BOLD_FACTOR = Fraction(5, 4)
# A character not in the table counts as an em: the table lists every character of the
# fonts whose bound is larger, and all of printable ASCII.
DEFAULT = 1000
SANS: dict[str, Fraction] = {
    "DejaVuSans.ttf": Fraction(1), "DejaVuSans-Oblique.ttf": Fraction(1),
    "DejaVuSans-Bold.ttf": BOLD_FACTOR, "DejaVuSans-BoldOblique.ttf": BOLD_FACTOR}
MONO = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")


def _u16(b: bytes, o: int) -> int:
    return int(struct.unpack_from(">H", b, o)[0])


def _s16(b: bytes, o: int) -> int:
    return int(struct.unpack_from(">h", b, o)[0])


def _tables(data: bytes) -> dict[str, bytes]:
    out = {}
    for i in range(_u16(data, 4)):
        tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        out[tag.decode("latin-1")] = data[offset:offset + length]
    return out


def _cmap(cmap: bytes) -> dict[int, int]:
    """Code point to glyph, from the Unicode subtables (formats 4 and 12)."""
    found: dict[int, int] = {}
    for i in range(_u16(cmap, 2)):
        platform, encoding, offset = struct.unpack_from(">HHI", cmap, 4 + 8 * i)
        if (platform, encoding) not in ((0, 3), (0, 4), (3, 1), (3, 10)):
            continue
        sub = cmap[offset:]
        if _u16(sub, 0) == 4:
            segs = _u16(sub, 6) // 2
            ends, starts, deltas, ranges = (14, 16 + 2 * segs, 16 + 4 * segs, 16 + 6 * segs)
            for s in range(segs):
                start, end = _u16(sub, starts + 2 * s), _u16(sub, ends + 2 * s)
                delta, rng = _s16(sub, deltas + 2 * s), _u16(sub, ranges + 2 * s)
                for code in range(start, min(end, 0xFFFE) + 1):
                    glyph = code + delta if rng == 0 else _u16(
                        sub, ranges + 2 * s + rng + 2 * (code - start))
                    if rng and glyph:
                        glyph += delta
                    if glyph & 0xFFFF:
                        found.setdefault(code, glyph & 0xFFFF)
        elif _u16(sub, 0) == 12:
            for g in range(struct.unpack_from(">I", sub, 12)[0]):
                start, end, glyph = struct.unpack_from(">III", sub, 16 + 12 * g)
                for code in range(start, end + 1):
                    found.setdefault(code, glyph + code - start)
    return found


def _coverage(b: bytes, o: int) -> list[int]:
    if _u16(b, o) == 1:
        return [_u16(b, o + 4 + 2 * i) for i in range(_u16(b, o + 2))]
    out: list[int] = []
    for i in range(_u16(b, o + 2)):
        start, end, _ = struct.unpack_from(">HHH", b, o + 4 + 6 * i)
        out += range(start, end + 1)
    return out


def _classes(b: bytes, o: int) -> dict[int, int]:
    out = {}
    if _u16(b, o) == 1:
        first = _u16(b, o + 2)
        for i in range(_u16(b, o + 4)):
            out[first + i] = _u16(b, o + 6 + 2 * i)
    else:
        for i in range(_u16(b, o + 2)):
            start, end, cls = struct.unpack_from(">HHH", b, o + 4 + 6 * i)
            out.update(dict.fromkeys(range(start, end + 1), cls))
    return out


def _size(fmt: int) -> int:
    return 2 * bin(fmt).count("1")


def _x_advance(b: bytes, o: int, fmt: int) -> int:
    # A value record's fields in order: XPlacement, YPlacement, XAdvance, ...
    return _s16(b, o + _size(fmt & 3)) if fmt & 4 else 0


def _subtables(table: bytes, extension: int) -> list[tuple[int, int]]:
    """(lookup type, offset) of every subtable of a GPOS or GSUB table's lookups."""
    out = []
    lookups = _u16(table, 8)
    for i in range(_u16(table, lookups)):
        lookup = lookups + _u16(table, lookups + 2 + 2 * i)
        for j in range(_u16(table, lookup + 4)):
            kind, sub = _u16(table, lookup), lookup + _u16(table, lookup + 6 + 2 * j)
            if kind == extension:
                kind = _u16(table, sub + 2)
                sub += struct.unpack_from(">I", table, sub + 4)[0]
            out.append((kind, sub))
    return out


Adjustment = tuple[Iterable[int], Iterable[int], int]


def _pair_adjustments(tables: dict[str, bytes], glyphs: int) -> Iterator[Adjustment]:
    """(first glyphs, second glyphs, change of advance) of each positive pair adjustment:
    GPOS pair adjustments of every lookup (the kern feature's among them), the kern table."""
    g = tables.get("GPOS", b"")
    for kind, sub in _subtables(g, 9) if g else []:
        if kind != 2:
            continue
        cover = _coverage(g, sub + _u16(g, sub + 2))
        vf1, vf2 = _u16(g, sub + 4), _u16(g, sub + 6)
        record = _size(vf1) + _size(vf2)

        def change(at: int, vf1: int = vf1, vf2: int = vf2) -> int:
            return _x_advance(g, at, vf1) + _x_advance(g, at + _size(vf1), vf2)
        if _u16(g, sub) == 1:
            for n, glyph in enumerate(cover):
                pairs = sub + _u16(g, sub + 10 + 2 * n)
                for r in range(_u16(g, pairs)):
                    at = pairs + 2 + r * (2 + record)
                    if change(at + 2) > 0:
                        yield (glyph,), (_u16(g, at),), change(at + 2)
            continue
        first = _classes(g, sub + _u16(g, sub + 8))
        second = _classes(g, sub + _u16(g, sub + 10))
        n1, n2 = _u16(g, sub + 12), _u16(g, sub + 14)
        # Class 0: every glyph not in a class (of the coverage, for the first glyph).
        firsts: list[list[int]] = [[] for _ in range(n1)]
        for glyph in cover:
            firsts[first.get(glyph, 0)].append(glyph)
        seconds: list[list[int]] = [[] for _ in range(n2)]
        for glyph in range(glyphs):
            seconds[second.get(glyph, 0)].append(glyph)
        for a in range(n1):
            for c in range(n2):
                value = change(sub + 16 + (a * n2 + c) * record)
                if value > 0 and firsts[a] and seconds[c]:
                    yield firsts[a], seconds[c], value
    k = tables.get("kern", b"")
    offset = 4
    for _ in range(_u16(k, 2) if k else 0):
        if _u16(k, offset + 4) >> 8 == 0:  # format 0
            for r in range(_u16(k, offset + 6)):
                left, right, value = struct.unpack_from(">HHh", k, offset + 14 + 6 * r)
                if value > 0:
                    yield (left,), (right,), value
        offset += _u16(k, offset + 2)


def _single_adjustments(tables: dict[str, bytes]) -> dict[int, int]:
    """Per glyph, the largest positive change of advance of a GPOS single adjustment."""
    g = tables.get("GPOS", b"")
    out: dict[int, int] = {}
    for kind, sub in _subtables(g, 9) if g else []:
        if kind == 1:
            fmt, vf = _u16(g, sub), _u16(g, sub + 4)
            for n, glyph in enumerate(_coverage(g, sub + _u16(g, sub + 2))):
                value = _x_advance(g, sub + 6 + (0 if fmt == 1 else 2 + n * _size(vf)), vf)
                out[glyph] = max(out.get(glyph, 0), value)
    return out


def _ligatures(tables: dict[str, bytes]) -> Iterator[tuple[int, list[int]]]:
    """(ligature glyph, component glyphs) of every GSUB ligature substitution."""
    g = tables.get("GSUB", b"")
    for kind, sub in _subtables(g, 7) if g else []:
        if kind != 4:
            continue
        for n, glyph in enumerate(_coverage(g, sub + _u16(g, sub + 2))):
            ligatures = sub + _u16(g, sub + 6 + 2 * n)
            for m in range(_u16(g, ligatures)):
                at = ligatures + _u16(g, ligatures + 2 + 2 * m)
                count = _u16(g, at + 2)
                yield _u16(g, at), [glyph] + [_u16(g, at + 4 + 2 * i) for i in range(count - 1)]


def _widths(tables: dict[str, bytes], plain: set[int]) -> dict[int, int]:
    """Per glyph, an upper bound of what it adds to a line's width, in font units.

    A pair's kerning counts in one of its two glyphs: in the first where both are ``plain``
    (printable ASCII: the largest kerning it takes before another plain glyph), else in one
    that is not (the largest it takes before any glyph, and after a plain one). Each glyph of
    a line then counts its pair with the next glyph, or with the one before, never both in
    one role: the sum over a line is never less than its width. A ligature wider than its
    components (and its kerning) counts in its first component."""
    metrics, glyphs = _u16(tables["hhea"], 34), _u16(tables["maxp"], 4)
    hmtx = tables["hmtx"]
    advance = [_u16(hmtx, 4 * min(i, metrics - 1)) for i in range(glyphs)]
    first: dict[int, int] = {}
    second: dict[int, int] = {}

    def bump(into: dict[int, int], glyph: int, value: int) -> None:
        if value > into.get(glyph, 0):
            into[glyph] = value

    for firsts, seconds, value in _pair_adjustments(tables, glyphs):
        firsts, seconds = list(firsts), list(seconds)
        plain_second = any(glyph in plain for glyph in seconds)
        for glyph in firsts:
            if glyph not in plain or plain_second:
                bump(first, glyph, value)
        if any(glyph in plain for glyph in firsts):
            for glyph in seconds:
                if glyph not in plain:
                    bump(second, glyph, value)
    single = _single_adjustments(tables)
    width = {glyph: advance[glyph] + first.get(glyph, 0) + second.get(glyph, 0)
             + single.get(glyph, 0) for glyph in range(glyphs)}
    for ligature, components in _ligatures(tables):
        more = width[ligature] - sum(width[glyph] for glyph in components)
        if more > 0:
            width[components[0]] += more
    return width


def bounds(path: Path) -> dict[str, Fraction]:
    """Per character of the font, an upper bound of the width it takes in a line, in em."""
    tables = _tables(path.read_bytes())
    em = _u16(tables["head"], 18)
    glyph_of = _cmap(tables["cmap"])
    plain = {glyph_of[c] for c in range(32, 127) if c in glyph_of}
    width = _widths(tables, plain)
    return {chr(code): Fraction(width[glyph], em) for code, glyph in glyph_of.items()}


def version(path: Path) -> str:
    """The font's version string (name ID 5)."""
    name = _tables(path.read_bytes())["name"]
    strings = _u16(name, 4)
    for i in range(_u16(name, 2)):
        platform, _, _, name_id, length, offset = struct.unpack_from(">6H", name, 6 + 12 * i)
        if name_id == 5:
            raw = name[strings + offset:strings + offset + length]
            return raw.decode("utf-16-be" if platform in (0, 3) else "latin-1")
    return "unknown"


def table(folder: Path) -> tuple[dict[str, int], int, list[str]]:
    """The advance table (thousandths of an em, rounded up), the width of every glyph of
    DejaVu Sans Mono (its bold too) and the files they are made from."""
    best: dict[str, Fraction] = {}
    used = []
    for name, factor in SANS.items():
        if not (folder / name).is_file():
            continue
        used.append(name)
        for char, width in bounds(folder / name).items():
            best[char] = max(best.get(char, Fraction(0)), width / factor)
    mono = max(ceil(max(bounds(folder / name).values()) * 1000) for name in MONO
               if (folder / name).is_file())
    out: dict[str, int] = {}
    for char, width in sorted(best.items()):
        value = ceil(width * 1000)
        if " " <= char <= "~" or value > DEFAULT:
            out[char] = value
    missing = [chr(c) for c in range(32, 127) if chr(c) not in out]
    assert not missing, missing
    return out, mono, used


def source(folder: Path) -> str:
    advances, mono, used = table(folder)
    ascii_part = {c: v for c, v in advances.items() if c <= "~"}
    wide = {c: v for c, v in advances.items() if c > "~"}

    def key(char: str) -> str:
        if char <= "~":
            return json.dumps(char)
        return f'"\\u{ord(char):04x}"' if ord(char) < 0x10000 else f'"\\U{ord(char):08x}"'

    def lines(items: dict[str, int]) -> str:
        out, line = [], "   "
        for char, value in items.items():
            piece = f" {key(char)}: {value},"
            if len(line) + len(piece) > 99:
                out.append(line)
                line = "   "
            line += piece
        return "\n".join([*out, line])

    files = textwrap.fill(", ".join(used + [m for m in MONO if (folder / m).is_file()])
                          + f" ({version(folder / 'DejaVuSans.ttf')}); do not edit.", 95)
    return f'''"""Upper bounds of the advances of DejaVu Sans: written by scripts/font_advances.py
from {files}"""

# Per character, in thousandths of an em, rounded up: the glyph's advance plus the largest
# kerning it can take (printable ASCII: before another of printable ASCII; any other: before
# or after any character), the largest of the regular and oblique fonts and of the bold ones
# divided by BOLD_FACTOR. A sum of them is never less than the width of the string. A
# character not listed counts as DEFAULT: the table holds all of printable ASCII and every
# character of the fonts wider than that.
# DejaVu Sans Mono: no glyph (nor kerning) makes a character wider than MONO.
BOLD_FACTOR = {float(BOLD_FACTOR)}
DEFAULT = {DEFAULT}
MONO = {mono}
ADVANCE: dict[str, int] = {{
{lines(ascii_part)}
{lines(wide)}
}}
'''


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from runbook.outputs.pdf import font_folder

    text = source(font_folder())
    if "--check" in argv:
        same = MODULE.is_file() and MODULE.read_text(encoding="utf-8") == text
        print(f"{MODULE.relative_to(ROOT)}: {'up to date' if same else 'differs'}")
        return 0 if same else 1
    MODULE.write_text(text, encoding="utf-8")
    print(f"wrote {MODULE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
