"""Recognising secrets in a topology, however they are typed, so that none is ever echoed.

A topology names vault entries; it never holds a secret. Keys that look like secrets
(``password``, ``product_key``, ...) are refused by :mod:`runbook.topology.validate`; this
module recognises the values: Microsoft product keys, 25 characters in five groups of five.

A key is matched after normalising what people paste: compatibility forms (full-width
letters) folded by NFKC, invisible characters removed, and any dash (hyphen, non-breaking
hyphen, en and em dash, minus sign) or white space taken as a group separator, or none at
all. Keys are drawn from 24 characters, ``2346789BCDFGHJKMPQRTVWXY`` (no vowels, no 0, 1,
5, L, N, S, Z), so a key written without dashes is matched on those characters only: text
made of words always holds a vowel within 25 letters, and is never taken for a key.
"""

from __future__ import annotations

import re
import unicodedata

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_KEY_CHARS = "2346789BCDFGHJKMPQRTVWXY"
_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_ALNUM_AFTER = r"(?![A-Za-z0-9])"
# Five groups of any letters and digits, joined by dashes (spaces around them allowed).
_DASHED = re.compile(
    _ALNUM_BEFORE + rf"[A-Z0-9]{{5}}(?:\s*[{_DASHES}]\s*[A-Z0-9]{{5}}){{4}}" + _ALNUM_AFTER,
    re.I)
# Five groups of key characters, joined by white space, underscores or nothing.
_PLAIN = re.compile(
    _ALNUM_BEFORE + rf"[{_KEY_CHARS}]{{5}}(?:[\s_]*[{_KEY_CHARS}]{{5}}){{4}}" + _ALNUM_AFTER,
    re.I)
REDACTED = "[redacted]"


def normalise(text: str) -> str:
    """``text`` as a key is matched in: NFKC-folded, invisible (format) characters removed."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


def has_product_key(text: str) -> bool:
    """True when ``text`` holds something typed like a product key (see the module)."""
    if text.isascii() and len(text) < 25:
        return False  # the common case: too short to hold a key
    for candidate in (text, normalise(text)):
        if _DASHED.search(candidate) or _PLAIN.search(candidate):
            return True
    return False


def redact(text: str) -> str:
    """``text`` with every product key in it replaced by ``[redacted]``.

    When only the normalised text shows a key (split by invisible characters, typed in
    full-width letters), the whole text is replaced: no part of it can be shown safely.
    """
    if not has_product_key(text):
        return text
    out = _PLAIN.sub(REDACTED, _DASHED.sub(REDACTED, text))
    return REDACTED if has_product_key(out) else out
