"""Web Push end to end against a real local push service that verifies and decrypts."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign

from notify.ssrf import EndpointPolicy
from notify.vapid import VapidSigner, b64url_decode, generate_vapid_key, vapid_key_from_raw
from notify.webpush import (
    MAX_PAYLOAD_BYTES,
    InvalidSubscriptionError,
    Outcome,
    PayloadTooLargeError,
    PushMessage,
    SenderLimits,
    Subscription,
    WebPushSender,
    _encrypt,
    build_request,
    encrypt_payload,
    message_for_alert,
    new_push_session,
    outcome_for_status,
    parse_retry_after,
    topic_for,
    urgency_for_level,
)
from tests.notify.push_service import PushService

LOOPBACK = EndpointPolicy(allow_insecure_loopback=True)
SUBJECT = "mailto:bousai@city.example.jp"
ALERT = json.dumps(
    {"level": 5, "title": "緊急安全確保", "body": "命の危険 直ちに安全確保！ 渋谷川 氾濫発生"},
    ensure_ascii=False,
).encode()


@pytest.fixture
def service(push_service: PushService) -> PushService:
    return push_service


@pytest.fixture(scope="module")
def signer() -> VapidSigner:
    return VapidSigner(generate_vapid_key(), subject=SUBJECT)


def _sender_for(session: aiohttp.ClientSession, signer: VapidSigner, limits: SenderLimits):
    return WebPushSender(session, signer, policy=LOOPBACK, limits=limits)


@pytest.fixture
async def sender(signer: VapidSigner) -> AsyncIterator[WebPushSender]:
    limits = SenderLimits(timeout_s=5.0)
    async with new_push_session(LOOPBACK, limits) as session:
        yield _sender_for(session, signer, limits)


def _subscribe(service: PushService, **kwargs: str) -> Subscription:
    return Subscription.from_json(service.subscribe(**kwargs))


# RFC 8291 Appendix A.
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tl"
    "zAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)


def test_encryption_reproduces_the_rfc_8291_example() -> None:
    sub = Subscription.from_keys("https://push.example.net/x", p256dh=RFC_UA_PUBLIC, auth=RFC_AUTH)
    ephemeral = vapid_key_from_raw(RFC_AS_PRIVATE).private_key
    body = _encrypt(RFC_PLAINTEXT, sub, b64url_decode(RFC_SALT), ephemeral)
    assert body == b64url_decode(RFC_BODY)


def test_encryption_matches_http_ece_byte_for_byte() -> None:
    browser = ec.generate_private_key(ec.SECP256R1())
    sub = Subscription.from_json(_json_for(browser, b"0123456789abcdef"))
    ephemeral, salt = ec.generate_private_key(ec.SECP256R1()), b"s" * 16
    ours = _encrypt(ALERT, sub, salt, ephemeral)
    reference = http_ece.encrypt(
        ALERT, salt=salt, private_key=ephemeral, dh=sub.p256dh, auth_secret=sub.auth, rs=4096
    )
    assert ours == reference
    plain = http_ece.decrypt(ours, private_key=browser, auth_secret=sub.auth, version="aes128gcm")
    assert plain == ALERT


def test_every_message_has_its_own_key_and_salt() -> None:
    sub = Subscription.from_json(_json_for(ec.generate_private_key(ec.SECP256R1()), b"a" * 16))
    first, second = encrypt_payload(ALERT, sub), encrypt_payload(ALERT, sub)
    assert first[:16] != second[:16]  # salt
    assert first[21:86] != second[21:86]  # ephemeral public key (keyid)


def _json_for(browser: ec.EllipticCurvePrivateKey, auth: bytes) -> dict[str, object]:
    point = browser.public_key().public_numbers()
    raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
    enc = [base64.urlsafe_b64encode(v).rstrip(b"=").decode() for v in (raw, auth)]
    return {"endpoint": "https://push.example.net/s/1", "keys": {"p256dh": enc[0], "auth": enc[1]}}


async def test_a_message_arrives_decrypted_byte_exact(
    service: PushService, sender: WebPushSender
) -> None:
    sub = _subscribe(service)
    message = message_for_alert(ALERT, level=5, ttl_s=3600, series="river:shibuya-01")
    result = await sender.send(sub, message)
    assert (result.outcome, result.status) == (Outcome.DELIVERED, 201)
    [got] = service.received(sub.endpoint)
    assert got.plaintext == ALERT
    assert (got.ttl_s, got.urgency, got.topic) == (3600, "high", topic_for("river:shibuya-01"))
    assert got.claims["aud"] == service.origin
    assert got.claims["sub"] == SUBJECT


async def test_the_largest_payload_is_delivered_and_one_more_byte_refused(
    service: PushService, sender: WebPushSender
) -> None:
    sub = _subscribe(service)
    biggest = ("あ" * (MAX_PAYLOAD_BYTES // 3)).encode() + b"x" * (MAX_PAYLOAD_BYTES % 3)
    assert len(biggest) == MAX_PAYLOAD_BYTES
    assert (await sender.send(sub, PushMessage(biggest, 60))).outcome is Outcome.DELIVERED
    assert service.received(sub.endpoint)[0].plaintext == biggest
    with pytest.raises(PayloadTooLargeError, match="3993"):
        PushMessage(biggest + b"!", 60)
    with pytest.raises(PayloadTooLargeError):
        encrypt_payload(biggest + b"!", sub)


@pytest.mark.parametrize("status", [404, 410])
async def test_a_gone_endpoint_is_reported_gone(
    service: PushService, sender: WebPushSender, status: int
) -> None:
    sub = _subscribe(service)
    service.answer(sub.endpoint, status)
    result = await sender.send(sub, PushMessage(b"hi", 60))
    assert (result.outcome, result.status) == (Outcome.GONE, status)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_s"),
    [(429, "120", 120.0), (503, "7", 7.0), (500, None, None), (502, "soon", None)],
)
async def test_throttled_and_failing_services_say_retry_later(
    service: PushService,
    sender: WebPushSender,
    status: int,
    retry_after: str | None,
    expected_s: float | None,
) -> None:
    sub = _subscribe(service)
    service.answer(sub.endpoint, status, retry_after=retry_after)
    result = await sender.send(sub, PushMessage(b"hi", 60))
    assert (result.outcome, result.status) == (Outcome.RETRY_LATER, status)
    assert result.retry_after_s == expected_s


async def test_other_client_errors_are_rejected_with_the_reason(
    service: PushService, sender: WebPushSender
) -> None:
    sub = _subscribe(service)
    service.answer(sub.endpoint, 400)
    result = await sender.send(sub, PushMessage(b"hi", 60))
    assert (result.outcome, result.status) == (Outcome.REJECTED, 400)
    assert "told to answer 400" in result.reason
    other_key = generate_vapid_key().application_server_key
    restricted = _subscribe(service, application_server_key=other_key)
    result = await sender.send(restricted, PushMessage(b"hi", 60))
    assert (result.outcome, result.status) == (Outcome.REJECTED, 403)
    assert "applicationServerKey" in result.reason


def _tamper_claims(header: str, **changes: object) -> str:
    token = header.split("t=", 1)[1].split(",", 1)[0]
    head, claims, sig = token.split(".")
    new = json.loads(b64url_decode(claims)) | changes
    forged = base64.urlsafe_b64encode(json.dumps(new).encode()).rstrip(b"=").decode()
    return header.replace(token, f"{head}.{forged}.{sig}")


def _flip_signature(header: str) -> str:
    token = header.split("t=", 1)[1].split(",", 1)[0]
    sig = token.rsplit(".", 1)[1]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    return header.replace(sig, flipped)


def _signed_header(signer: VapidSigner, claims: dict[str, object]) -> str:
    token = sign(claims, signer.key.private_key)
    return f"vapid t={token}, k={signer.key.application_server_key}"


async def test_the_service_refuses_a_forged_or_stale_vapid_token(
    service: PushService, signer: VapidSigner
) -> None:
    sub = _subscribe(service)
    request = build_request(sub, PushMessage(ALERT, 60), signer)
    good = request.headers["Authorization"]
    now = int(time.time())
    bad_headers = [
        _tamper_claims(good, aud="https://fcm.googleapis.com"),
        _tamper_claims(good, exp=now + 600),
        _flip_signature(good),
        good.replace(
            signer.key.application_server_key, generate_vapid_key().application_server_key
        ),
        _signed_header(signer, {"aud": service.origin, "exp": now - 5, "sub": SUBJECT}),
        _signed_header(signer, {"aud": service.origin, "exp": now + 25 * 3600, "sub": SUBJECT}),
        _signed_header(signer, {"aud": "http://127.0.0.1:1", "exp": now + 600, "sub": SUBJECT}),
        "WebPush " + good.split(" ", 1)[1],
    ]
    async with aiohttp.ClientSession() as session:
        for header in [*bad_headers, good]:
            headers = request.headers | {"Authorization": header}
            async with session.post(request.url, data=request.body, headers=headers) as response:
                status = response.status
            assert status == (201 if header is good else 401), header
    assert len(service.refused) == len(bad_headers)
    assert [m.plaintext for m in service.received(sub.endpoint)] == [ALERT]


async def test_a_hanging_endpoint_times_out_while_a_hundred_others_are_delivered(
    service: PushService, sender: WebPushSender
) -> None:
    stuck = _subscribe(service)
    service.hang(stuck.endpoint)
    others = [_subscribe(service) for _ in range(100)]
    message = PushMessage(ALERT, 60)
    stuck_task = asyncio.create_task(sender.send(stuck, message))
    await service.wait_until(lambda: service.hanging == 1)
    results = await asyncio.wait_for(asyncio.gather(*(sender.send(s, message) for s in others)), 60)
    assert not stuck_task.done()  # the others finished while it was still waiting
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert all(service.received(s.endpoint)[0].plaintext == ALERT for s in others)
    stuck_result = await asyncio.wait_for(stuck_task, 60)
    assert stuck_result.outcome is Outcome.TIMEOUT
    assert service.received(stuck.endpoint) == []


async def test_a_slow_push_service_holds_only_its_own_share_of_the_slots(
    service: PushService, signer: VapidSigner
) -> None:
    slow = PushService()
    await slow.start()
    limits = SenderLimits(max_concurrency=4, max_per_origin=3, timeout_s=120.0)
    try:
        async with new_push_session(LOOPBACK, limits) as session:
            sender = _sender_for(session, signer, limits)
            stuck = [_subscribe(slow) for _ in range(10)]
            for sub in stuck:
                slow.hang(sub.endpoint)
            healthy = [_subscribe(service) for _ in range(100)]
            message = PushMessage(ALERT, 60)
            stuck_tasks = [asyncio.create_task(sender.send(s, message)) for s in stuck]
            await slow.wait_until(lambda: slow.hanging == 3)
            results = await asyncio.wait_for(sender.send_many(healthy, message), 60)
            assert {r.outcome for r in results} == {Outcome.DELIVERED}
            assert not any(task.done() for task in stuck_tasks)
            # The slow service holds its three slots; the healthy one runs on the fourth.
            assert (slow.max_in_flight, service.max_in_flight) == (3, 1)
            for task in stuck_tasks:
                task.cancel()
            await asyncio.gather(*stuck_tasks, return_exceptions=True)
    finally:
        await slow.close()


async def test_send_many_reports_each_outcome_in_order(
    service: PushService, sender: WebPushSender
) -> None:
    subs = [_subscribe(service) for _ in range(6)]
    service.answer(subs[1].endpoint, 410)
    service.answer(subs[3].endpoint, 429, retry_after="30")
    service.answer(subs[4].endpoint, 413)
    results = await sender.send_many(subs, PushMessage(ALERT, 60, "high"))
    assert [r.endpoint for r in results] == [s.endpoint for s in subs]
    assert [r.outcome for r in results] == [
        Outcome.DELIVERED,
        Outcome.GONE,
        Outcome.DELIVERED,
        Outcome.RETRY_LATER,
        Outcome.REJECTED,
        Outcome.DELIVERED,
    ]
    assert results[3].retry_after_s == 30.0
    assert not sender._origins._slots  # per-origin semaphores do not pile up


async def test_an_unsafe_endpoint_is_refused_before_any_request(
    service: PushService, signer: VapidSigner
) -> None:
    sub = _subscribe(service)
    async with new_push_session(EndpointPolicy(), SenderLimits()) as session:
        strict = WebPushSender(session, signer, policy=EndpointPolicy())
        result = await strict.send(sub, PushMessage(b"hi", 60))
        https_loopback = Subscription.from_keys(
            sub.endpoint.replace("http://127.0.0.1", "https://localhost"),
            p256dh=base64.urlsafe_b64encode(sub.p256dh).decode(),
            auth=base64.urlsafe_b64encode(sub.auth).decode(),
        )
        named = await strict.send(https_loopback, PushMessage(b"hi", 60))
    assert (result.outcome, result.status) == (Outcome.REJECTED, None)
    assert "not https" in result.reason
    assert named.outcome is Outcome.REJECTED
    assert "loopback" in named.reason
    assert service.in_flight == service.max_in_flight == 0


async def test_a_closed_port_means_retry_later(service: PushService, sender: WebPushSender) -> None:
    sub = _subscribe(service)
    await service.close()
    result = await sender.send(sub, PushMessage(b"hi", 60))
    assert result.outcome is Outcome.RETRY_LATER
    assert "connection failed" in result.reason


def test_vapid_header_is_signed_once_per_origin(service: PushService, signer: VapidSigner) -> None:
    sub = _subscribe(service)
    first = build_request(sub, PushMessage(b"a", 60), signer)
    second = build_request(sub, PushMessage(b"b", 60), signer)
    assert first.headers["Authorization"] == second.headers["Authorization"]
    assert first.body != second.body


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (201, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (301, Outcome.REJECTED),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (403, Outcome.REJECTED),
        (404, Outcome.GONE),
        (410, Outcome.GONE),
        (413, Outcome.REJECTED),
        (429, Outcome.RETRY_LATER),
        (500, Outcome.RETRY_LATER),
        (503, Outcome.RETRY_LATER),
    ],
)
def test_outcome_for_status(status: int, outcome: Outcome) -> None:
    assert outcome_for_status(status) is outcome


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        ("-5", None),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("later", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == seconds


@pytest.mark.parametrize(
    ("level", "urgency"), [(1, "normal"), (2, "normal"), (3, "normal"), (4, "high"), (5, "high")]
)
def test_levels_four_and_five_are_high_urgency(level: int, urgency: str) -> None:
    assert urgency_for_level(level) == urgency


def test_bad_levels_and_options_are_refused() -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        urgency_for_level(6)
    with pytest.raises(ValueError, match="topic"):
        PushMessage(b"x", 60, topic="has spaces")
    with pytest.raises(ValueError, match="topic"):
        PushMessage(b"x", 60, topic="a" * 33)
    with pytest.raises(ValueError, match="ttl_s"):
        PushMessage(b"x", -1)


def test_topics_are_valid_and_stable() -> None:
    topic = topic_for("river:渋谷川:氾濫危険")
    assert len(topic) == 32
    assert topic == topic_for("river:渋谷川:氾濫危険") != topic_for("river:渋谷川:避難判断")
    PushMessage(b"x", 60, topic=topic)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"endpoint": "https://push.example.net/x"},
        {"endpoint": "/relative", "keys": {"p256dh": RFC_UA_PUBLIC, "auth": RFC_AUTH}},
        {"endpoint": "https://p.example/x", "keys": {"p256dh": "%%%", "auth": RFC_AUTH}},
        {"endpoint": "https://p.example/x", "keys": {"p256dh": RFC_UA_PUBLIC, "auth": "AAAA"}},
        {"endpoint": "https://p.example/x", "keys": {"p256dh": RFC_AUTH, "auth": RFC_AUTH}},
        {"endpoint": "https://p.example/x", "keys": {"p256dh": "BA" + "A" * 85, "auth": RFC_AUTH}},
    ],
)
def test_malformed_subscriptions_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(InvalidSubscriptionError):
        Subscription.from_json(data)
