"""Hardened XML parsing for everything that arrives from outside.

Feeds are untrusted: a DOCTYPE (and so any entity, internal or external) is refused outright,
as is a document larger than the limit, before a parser sees it. JMA and CAP documents never
need a DTD, so refusing one loses nothing real. Declared encodings are allow-listed: expat reads
the single-byte ones, and the multi-byte charsets of Japanese (and neighbouring) feeds, which
expat cannot read, are transcoded to UTF-8 first.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from disaster.domain import InvalidInputError

__all__ = ["MAX_XML_BYTES", "parse_xml"]

#: The largest JMA sample is about 1 MB (VPWW54 for a whole region); allow headroom, no more.
MAX_XML_BYTES = 4 * 1024 * 1024

_ENCODING_DECL = re.compile(rb"""\A\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)""")
_EXPAT_READS = re.compile(
    r"utf-?8|utf-?16(?:-?[bl]e)?|(?:us-)?ascii|iso-?8859-(?:[1-9]|1[0-6])|latin-?1|"
    r"(?:windows-|cp)125[0-8]|koi8-[ru]"
)  # fmt: skip
#: Multi-byte charsets (by their normalised names) and the Python codec that reads each.
_TRANSCODED = {"shift-jis": "shift_jis", "sjis": "shift_jis", "x-sjis": "shift_jis",
               "windows-31j": "cp932", "cp932": "cp932", "euc-jp": "euc_jp",
               "x-euc-jp": "euc_jp", "iso-2022-jp": "iso2022_jp", "euc-kr": "euc_kr",
               "gb2312": "gb2312", "gbk": "gbk", "gb18030": "gb18030", "big5": "big5"}  # fmt: skip
_SHOWN_CHARS = 60


def parse_xml(raw: bytes, *, max_bytes: int = MAX_XML_BYTES) -> Element:
    """Return the root element, or raise :class:`InvalidInputError` saying why not."""
    if len(raw) > max_bytes:
        msg = f"XML document is {len(raw)} bytes, more than the {max_bytes} allowed"
        raise InvalidInputError(msg)
    declared = _ENCODING_DECL.match(raw)
    if declared is None:  # no declaration: UTF-8, or UTF-16 with its byte-order mark
        return _parse(raw)
    name = declared.group(1).decode("latin-1")
    normalised = name.strip().lower().replace("_", "-")
    if codec := _TRANSCODED.get(normalised):
        return _parse(_as_utf8(raw, declared.start(1), declared.end(1), codec))
    if not _EXPAT_READS.fullmatch(normalised):
        msg = f"XML encoding {name[:_SHOWN_CHARS]!r} is not supported"
        raise InvalidInputError(msg)
    return _parse(raw)


def _as_utf8(raw: bytes, start: int, end: int, codec: str) -> bytes:
    """Re-encode a Shift_JIS/EUC-JP/... document as UTF-8, declaration included."""
    try:  # the declaration before ``end`` is ASCII in each of these charsets
        body = raw[end:].decode(codec).encode("utf-8")
    except UnicodeError as exc:
        msg = f"document is not valid {codec}: {str(exc)[:_SHOWN_CHARS]}"
        raise InvalidInputError(msg) from None
    return raw[:start] + b"UTF-8" + body


def _parse(raw: bytes) -> Element:
    try:
        return SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        msg = f"unsafe XML refused: {type(exc).__name__} ({exc})"
        raise InvalidInputError(msg) from None
    except ParseError as exc:
        msg = f"not well-formed XML: {exc}"
        raise InvalidInputError(msg) from None
    except (LookupError, ValueError) as exc:
        msg = f"unreadable XML encoding: {exc}"
        raise InvalidInputError(msg) from None
