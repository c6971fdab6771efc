"""Which characters a text may carry: one rule for imported ids, labels and texts and for the
campaign's HIT text (title, description, keywords, instructions).

Refused: C0 control characters except tab, line feed and carriage return; DEL; C1 controls
(U+0080-U+009F); Unicode noncharacters (U+FDD0-U+FDEF and every U+xxFFFE / U+xxFFFF); lone
surrogates (U+D800-U+DFFF, which no UTF-8 encoder accepts). Any of them makes the rendered
HTMLQuestion not well-formed XML (or a PostgreSQL ``text`` refuse NUL), so such an item could
never be answered: it is refused at the door, before it can cost money.
"""

from __future__ import annotations

import re

_UNUSABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(
        f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
    )
    + "]"
)


def first_unusable_char(text: str) -> tuple[int, str] | None:
    """(index, description) of the first refused character in ``text``, or None."""
    m = _UNUSABLE.search(text)
    if m is None:
        return None
    ch = m.group()
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        kind = "control character"
    elif 0xD800 <= code <= 0xDFFF:
        kind = "lone surrogate"
    else:
        kind = "Unicode noncharacter"
    return m.start(), f"{kind} U+{code:04X} at position {m.start()}"


def check_text(text: str, *, what: str) -> str:
    """``text`` unchanged, or ValueError naming ``what`` and the first refused character."""
    bad = first_unusable_char(text)
    if bad is not None:
        raise ValueError(f"{what} contains a {bad[1]}")
    return text
