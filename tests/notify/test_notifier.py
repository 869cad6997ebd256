"""The notifier delivers only alerts this system issued: one Postgres does not know (another
deployment's, on a shared cluster) is refused with a reason, never retried for ever."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg
import pytest

from disaster import store
from disaster._kafka import encode_json
from disaster.domain import Alert, AlertLevel, InvalidInputError
from notify.notifier import Notifier
from tests.support import seed_push_residents, square


class _Sent:
    """Stands in for the producer: the inbox receipts published."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.count += 1

    async def flush(self) -> None:
        return None


async def test_an_alert_this_system_never_stored_is_refused_and_a_stored_one_delivered(
    own_pool: asyncpg.Pool, push_service: object
) -> None:
    await seed_push_residents(own_pool, push_service, [(35.005, 139.005)])
    alert = Alert(id=uuid.uuid4(), level=AlertLevel.EVACUATE, hazard="flood",
                  area_name="東地区", area=square(139.0, 35.0, 0.01), headline={"ja": "避難指示"},
                  issued_at=datetime.now(UTC))  # fmt: skip
    record = SimpleNamespace(value=encode_json(alert.to_json_dict()))
    sent = _Sent()
    notifier = Notifier(own_pool, sent)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not in this system's record"):
        await notifier.handle(record)  # type: ignore[arg-type]
    async with own_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0
        await store.insert_alert(conn, alert)
    await notifier.handle(record)  # type: ignore[arg-type]
    async with own_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 2  # inbox and push
    assert sent.count == 1
