"""Hardened XML parsing for everything that arrives from outside.

Feeds are untrusted: a DOCTYPE (and so any entity, internal or external) is refused outright,
as is a document larger than the limit, before a parser sees it. JMA and CAP documents never
need a DTD, so refusing one loses nothing real.
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


_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def parse_xml(raw: bytes, *, max_bytes: int = MAX_XML_BYTES) -> Element:
    """Return the root element, or raise :class:`InvalidInputError` saying why not.

    Shift_JIS and EUC-JP, common in Japanese feeds but unsupported by expat, are transcoded to
    UTF-8 first.
    """
    if len(raw) > max_bytes:
        msg = f"XML document is {len(raw)} bytes, more than the {max_bytes} allowed"
        raise InvalidInputError(msg)
    try:
        return _parse(raw)
    except InvalidInputError:
        raise
    except ValueError as exc:
        if "multi-byte encodings are not supported" not in str(exc):
            msg = f"unreadable XML encoding: {exc}"
            raise InvalidInputError(msg) from None
    return _parse(_as_utf8(raw))


def _as_utf8(raw: bytes) -> bytes:
    declared = _ENCODING_DECL.match(raw)
    if declared is None:
        msg = "XML encoding cannot be read"
        raise InvalidInputError(msg)
    try:  # the declaration is ASCII in every charset that gets this far
        body = raw[declared.end(1) :].decode(declared.group(1).decode("ascii"))
    except (LookupError, ValueError) as exc:
        msg = f"document is not valid in its declared encoding: {exc}"
        raise InvalidInputError(msg) from None
    return raw[: declared.start(1)] + b"UTF-8" + body.encode("utf-8")


def _parse(raw: bytes) -> Element:
    try:
        return SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        msg = f"unsafe XML refused: {type(exc).__name__} ({exc})"
        raise InvalidInputError(msg) from None
    except ParseError as exc:
        msg = f"not well-formed XML: {exc}"
        raise InvalidInputError(msg) from None
    except LookupError as exc:  # an unknown declared encoding
        msg = f"unreadable XML encoding: {exc}"
        raise InvalidInputError(msg) from None
