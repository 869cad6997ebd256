"""An Atom 1.0 (RFC 4287) feed of the alerts in force, each entry carrying its CAP document.

Aggregators poll an Atom index of CAP alerts. Each entry links to its CAP document
(``rel="alternate"``, ``type="application/cap+xml"``) and, when the document is given, also
embeds it in ``content``: readers such as ``ingest/cap.py`` parse only embedded alerts (they
do no I/O), and one fetch then gives a reader everything in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET

from notify.cap_out import CAP_NS

__all__ = ["ATOM_NS", "CAP_MEDIA_TYPE", "FeedEntry", "alerts_feed"]

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
CAP_MEDIA_TYPE = "application/cap+xml"

# Atom elements are written unqualified under a literal default ``xmlns`` on the feed, since
# ElementTree's default_namespace option refuses Atom's unqualified attributes (rel, href).
# A readable prefix for the embedded alerts instead of ElementTree's "ns1"; the registry is
# process-wide, and this pairs the CAP namespace with the prefix everyone uses for it.
ET.register_namespace("cap", CAP_NS)


@dataclass(frozen=True)
class FeedEntry:
    """One alert in the feed.

    ``id`` is a permanent IRI such as ``urn:uuid:…``, the same for every version of an entry,
    ``updated`` the time of its newest version, ``cap_url`` where its CAP document is served,
    and ``cap_document`` the document itself to embed (None: link only).
    """

    id: str
    title: str
    updated: datetime
    cap_url: str
    summary: str = ""
    cap_document: bytes | None = None


def alerts_feed(
    entries: Sequence[FeedEntry],
    feed_url: str,
    updated: datetime,
    *,
    title: str = "警戒レベル・避難情報 (CAP)",
    feed_id: str | None = None,
    author: str = "災害対策本部",
    language: str = "ja",
) -> bytes:
    """Return a UTF-8 Atom feed; ``feed_url`` is its own address (``rel="self"``).

    ``feed_id`` defaults to ``feed_url``: RFC 4287 wants an id that never changes, so pass one
    if the address might.
    """
    feed = ET.Element("feed", {"xmlns": ATOM_NS, f"{{{_XML_NS}}}lang": language})
    _add(feed, "id", feed_id or feed_url)
    _add(feed, "title", title)
    _add(feed, "updated", _atom_time(updated))
    ET.SubElement(_add(feed, "author", None), "name").text = author
    _link(feed, "self", "application/atom+xml", feed_url)
    for entry in entries:
        feed.append(_entry(entry))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _entry(entry: FeedEntry) -> ET.Element:
    if ":" not in entry.id:
        msg = f"entry id {entry.id!r} is not an IRI such as urn:uuid:…"
        raise ValueError(msg)
    element = ET.Element("entry")
    _add(element, "id", entry.id)
    _add(element, "title", entry.title)
    _add(element, "updated", _atom_time(entry.updated))
    _link(element, "alternate", CAP_MEDIA_TYPE, entry.cap_url)
    if entry.summary:
        _add(element, "summary", entry.summary).set("type", "text")
    if entry.cap_document is not None:
        content = _add(element, "content", None)
        content.set("type", CAP_MEDIA_TYPE)
        content.append(_cap_root(entry.cap_document))
    return element


def _cap_root(document: bytes) -> ET.Element:
    """Parse a CAP document for embedding, refusing anything that is not a CAP 1.2 alert.

    The document is ours, but it may come back from storage: no DTD, so no entity tricks.
    """
    try:
        root = SafeET.fromstring(document, forbid_dtd=True)
    except ET.ParseError as exc:
        msg = f"the CAP document is not well-formed XML: {exc}"
        raise ValueError(msg) from None
    if root.tag != f"{{{CAP_NS}}}alert":
        msg = f"not a CAP 1.2 alert: root is {root.tag!r}"
        raise ValueError(msg)
    return root


def _atom_time(moment: datetime) -> str:
    if moment.utcoffset() is None:
        msg = "Atom times (RFC 3339) need a timezone"
        raise ValueError(msg)
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def _add(parent: ET.Element, name: str, text: str | None) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def _link(parent: ET.Element, rel: str, media_type: str, href: str) -> None:
    ET.SubElement(parent, "link", {"rel": rel, "type": media_type, "href": href})
