"""Hardened XML parsing for everything that arrives from outside.

Feeds are untrusted: a DOCTYPE (and so any entity, internal or external) is refused outright,
as is a document larger than the limit, before a parser sees it. JMA and CAP documents never
need a DTD, so refusing one loses nothing real.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from disaster.domain import InvalidInputError

__all__ = ["MAX_XML_BYTES", "parse_xml"]

#: The largest JMA sample is about 1 MB (VPWW54 for a whole region); allow headroom, no more.
MAX_XML_BYTES = 4 * 1024 * 1024


def parse_xml(raw: bytes, *, max_bytes: int = MAX_XML_BYTES) -> Element:
    """Return the root element, or raise :class:`InvalidInputError` saying why not."""
    if len(raw) > max_bytes:
        msg = f"XML document is {len(raw)} bytes, more than the {max_bytes} allowed"
        raise InvalidInputError(msg)
    try:
        return SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        msg = f"unsafe XML refused: {type(exc).__name__} ({exc})"
        raise InvalidInputError(msg) from None
    except ParseError as exc:
        msg = f"not well-formed XML: {exc}"
        raise InvalidInputError(msg) from None
    except (LookupError, ValueError) as exc:  # an unknown or unusable declared encoding
        msg = f"unreadable XML encoding: {exc}"
        raise InvalidInputError(msg) from None
