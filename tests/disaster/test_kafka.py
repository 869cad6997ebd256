"""The Kafka adapter's pure parts: record decoding and dead-letter bodies."""

from __future__ import annotations

import base64

import pytest
from aiokafka import ConsumerRecord

from disaster._kafka import dead_letter, decode_record
from disaster.domain import Alert, InvalidInputError


def _record(value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(
        topic="river.raw", partition=1, offset=42, timestamp=0, timestamp_type=0,
        key=b"st-1", value=value, checksum=None, serialized_key_size=4,
        serialized_value_size=len(value or b""), headers=(),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "reason"),
    [(None, "not an alert"), (b"{}", "level: Field required"), (b"\x00", "Invalid JSON")],
)
def test_decode_record_names_what_is_wrong(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        decode_record(value, Alert, "an alert")
    assert reason in caught.value.reason


def test_a_dead_letter_keeps_text_as_text_and_bytes_as_base64() -> None:
    text = dead_letter(_record(b'{"level": "x"}'), "bad level")
    assert text["value"] == '{"level": "x"}'
    assert (text["topic"], text["partition"], text["offset"], text["key"]) == (
        "river.raw", 1, 42, "st-1",
    )  # fmt: skip
    assert text["reason"] == "bad level"
    binary = dead_letter(_record(b"\xff\xfe"), "not JSON")
    assert base64.b64decode(binary["value_base64"]) == b"\xff\xfe"
    assert "value" not in binary
