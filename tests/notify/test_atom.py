"""The Atom feed of alerts in force: well-formed RFC 4287, and readable by our own CAP reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from disaster.domain import InvalidInputError
from ingest.cap import parse_cap
from notify.atom import ATOM_NS, CAP_MEDIA_TYPE, FeedEntry, alerts_feed
from notify.cap_out import CAP_NS, CapAlert, alert_to_cap
from notify.messages import JST, AlertFacts, compose_alert, load_catalogue

LIBRARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "cap" / "google_cap-library"
SCHEMA = etree.XMLSchema(etree.parse(str(LIBRARY / "cap12.xsd")))
CATALOGUE = load_catalogue()
SENT = datetime(2026, 11, 22, 13, 10, 5, tzinfo=JST)
SENDER = "bousai.city.example.jp"
FEED_URL = "https://bousai.city.example.jp/api/v1/alerts.atom"
NS = {"a": ATOM_NS, "cap": CAP_NS}
RING = [(139.1, 35.1), (139.2, 35.1), (139.2, 35.2), (139.1, 35.1)]


def _cap_document(identifier: str, level: int, **changes: object) -> bytes:
    facts = AlertFacts(level, "flood", "○○川流域", None, SENT)
    messages = [compose_alert(facts, language, CATALOGUE) for language in CATALOGUE.languages]
    fields: dict[str, object] = {
        "identifier": identifier, "sender": SENDER, "sent": SENT, "level": level,
        "hazard": "flood", "area_desc": "○○市 ○○川流域", "messages": messages,
        "polygons": [RING],
    }  # fmt: skip
    return alert_to_cap(CapAlert(**(fields | changes)))  # type: ignore[arg-type]


def _entries(*, embed: bool = True) -> list[FeedEntry]:
    # river-1 (level 3) was superseded by river-2, so only the update is in force.
    update = _cap_document(
        "river-2", 4, msg_type="Update", references=[(SENDER, "river-1", SENT)],
        sent=SENT + timedelta(minutes=20),
    )  # fmt: skip
    landslide = _cap_document("slope-1", 4)
    return [
        FeedEntry("urn:uuid:6f1b8a52-8c4d-4c55-9a39-3f8f3b2b1e01", "【警戒レベル4】避難指示 ○○川",
                  SENT + timedelta(minutes=20), "https://bousai.city.example.jp/cap/river-2.xml",
                  "○○川流域に避難指示", update if embed else None),
        FeedEntry("urn:uuid:6f1b8a52-8c4d-4c55-9a39-3f8f3b2b1e02", "【警戒レベル4】避難指示 ○○地区",
                  SENT, "https://bousai.city.example.jp/cap/slope-1.xml", "",
                  landslide if embed else None),
    ]  # fmt: skip


def test_the_feed_is_well_formed_atom() -> None:
    feed = etree.fromstring(alerts_feed(_entries(), FEED_URL, SENT + timedelta(minutes=20)))
    assert feed.tag == f"{{{ATOM_NS}}}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "ja"
    assert feed.findtext("a:id", namespaces=NS) == FEED_URL
    assert feed.findtext("a:updated", namespaces=NS) == "2026-11-22T13:30:05+09:00"
    assert feed.findtext("a:author/a:name", namespaces=NS)
    assert feed.find("a:link[@rel='self']", NS).get("href") == FEED_URL
    entries = feed.findall("a:entry", NS)
    assert len(entries) == 2
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"a:{name}", NS)) == 1
        link = entry.find("a:link[@rel='alternate']", NS)
        assert link.get("type") == CAP_MEDIA_TYPE
        assert link.get("href").startswith("https://bousai.city.example.jp/cap/")
    assert entries[0].findtext("a:id", namespaces=NS).startswith("urn:uuid:")
    assert entries[0].findtext("a:summary", namespaces=NS) == "○○川流域に避難指示"
    assert entries[1].find("a:summary", NS) is None


def test_embedded_alerts_are_schema_valid_cap() -> None:
    feed = etree.fromstring(alerts_feed(_entries(), FEED_URL, SENT))
    alerts = feed.findall("a:entry/a:content/cap:alert", NS)
    assert len(alerts) == 2
    for alert in alerts:
        SCHEMA.assertValid(etree.fromstring(etree.tostring(alert)))


def test_our_cap_reader_reads_the_feed() -> None:
    reports = parse_cap(alerts_feed(_entries(), FEED_URL, SENT))
    assert [report.id for report in reports] == [
        f"cap:{SENDER}:river-2", f"cap:{SENDER}:slope-1"
    ]  # fmt: skip
    assert reports[0].info_type == "update"
    assert reports[0].references == [f"cap:{SENDER}:river-1"]
    assert reports[0].series == f"cap:{SENDER}:river-1"
    assert [report.alert_level for report in reports] == [4, 4]


def test_a_link_only_index_is_well_formed_but_has_nothing_inline() -> None:
    document = alerts_feed(_entries(embed=False), FEED_URL, SENT)
    assert len(etree.fromstring(document).findall("a:entry/a:content", NS)) == 0
    with pytest.raises(InvalidInputError, match="link elsewhere"):
        parse_cap(document)  # the reader does no I/O, so it cannot follow the links


def test_an_empty_feed_is_still_a_feed() -> None:
    feed = etree.fromstring(alerts_feed([], FEED_URL, datetime(2026, 1, 1, tzinfo=UTC)))
    assert feed.findall("a:entry", NS) == []
    assert feed.findtext("a:updated", namespaces=NS) == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (FeedEntry("alert-1", "t", SENT, "https://x/1.xml"), "not an IRI"),
        (FeedEntry("urn:x:1", "t", SENT.replace(tzinfo=None), "https://x/1.xml"), "timezone"),
        (FeedEntry("urn:x:1", "t", SENT, "https://x/1.xml", cap_document=b"<feed/>"),
         "not a CAP 1.2 alert"),
        (FeedEntry("urn:x:1", "t", SENT, "https://x/1.xml", cap_document=b"<alert"),
         "not well-formed"),
        (FeedEntry("urn:x:1", "t", SENT, "https://x/1.xml",
                   cap_document=b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'), "DTD"),
    ],
)  # fmt: skip
def test_bad_entries_are_refused(entry: FeedEntry, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        alerts_feed([entry], FEED_URL, SENT)
