"""Redaction before anything is embedded or indexed: phone numbers, e-mail addresses,
PRC resident ID numbers and bank card numbers become typed placeholders."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PRC_ID = re.compile(r"(?<!\d)[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")
MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[ -]?\d{7,8}(?!\d)")
INTERNATIONAL = re.compile(r"\+\d{1,3}(?:[ -]?\(?\d{1,4}\)?){2,5}\d")


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def redact(text: str) -> str:
    text = EMAIL.sub("[EMAIL]", text)
    text = PRC_ID.sub("[ID]", text)
    text = CARD.sub(lambda m: "[CARD]" if _luhn(re.sub(r"\D", "", m.group())) else m.group(), text)
    text = MOBILE.sub("[PHONE]", text)
    text = INTERNATIONAL.sub("[PHONE]", text)
    text = LANDLINE.sub("[PHONE]", text)
    return text
