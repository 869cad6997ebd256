"""Per-message CPU cost of a Web Push send: this sender next to pywebpush, on the same payloads.

Measured on one core, per message, for a fan-out to many distinct browser subscriptions spread
over three push service origins:

- ``ours``: ``notify.webpush.build_request`` (RFC 8291 encryption, RFC 8030 headers, the VAPID
  header from the per-origin cache) with subscriptions parsed once, as the notifier holds them;
- ``pywebpush_encode``: ``WebPusher(info).encode(payload)``, encryption only;
- ``pywebpush_encode_vapid``: the same plus ``Vapid02.sign``, which ``pywebpush.webpush`` does for
  every message;
- ``floor``: one P-256 key generation and one ECDH, which RFC 8291 requires per message.

Each figure is the median of several interleaved rounds, so a busy neighbour skews all alike.

Run from the repository root: ``python -m bench.notify.encrypt [--messages N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher

from notify.vapid import VapidSigner, b64url_encode, generate_vapid_key
from notify.webpush import PushMessage, Subscription, build_request

ORIGINS = (
    "https://fcm.googleapis.com/fcm/send/",
    "https://updates.push.services.mozilla.com/wpush/v2/",
    "https://web.push.apple.com/",
)
SUBJECT = "mailto:bousai@city.example.jp"


def _payloads() -> dict[str, bytes]:
    alert = {
        "id": "0190f7a2-5c1e-7d3a-9b8e-2f4c6a1d3e5b",
        "level": 4,
        "title": "【警戒レベル4】避難指示",
        "body": "渋谷川 氾濫危険水位に到達。危険な場所から全員避難してください。",
        "area": "渋谷区 神南一丁目・宇田川町",
        "url": "https://bousai.city.example.jp/alerts/0190f7a2",
    }
    small = json.dumps(alert, ensure_ascii=False).encode()
    return {"alert": small, "max": (small * 20)[:3993]}


def _subscriptions(count: int) -> list[dict[str, object]]:
    infos = []
    for i in range(count):
        browser = ec.generate_private_key(ec.SECP256R1())
        point = browser.public_key().public_numbers()
        raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
        endpoint = f"{ORIGINS[i % len(ORIGINS)]}sub{i:06d}"
        keys = {"p256dh": b64url_encode(raw), "auth": b64url_encode(i.to_bytes(16, "big"))}
        infos.append({"endpoint": endpoint, "keys": keys})
    return infos


def _per_message_us(run: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / count * 1e6


def _candidates(infos: list[dict[str, object]], payload: bytes) -> dict[str, Callable[[], object]]:
    subs = [Subscription.from_json(info) for info in infos]
    signer = VapidSigner(generate_vapid_key(), subject=SUBJECT)
    message = PushMessage(payload, 3600, "high")
    vapid = Vapid02()
    vapid.generate_keys()
    claims = [{"aud": "https://" + str(i["endpoint"]).split("/")[2], "sub": SUBJECT} for i in infos]
    peers = [s.public_key for s in subs]

    def ours() -> None:
        for sub in subs:
            build_request(sub, message, signer)

    def pywebpush_encode() -> None:
        for info in infos:
            WebPusher(info).encode(payload)

    def pywebpush_encode_vapid() -> None:
        for info, claim in zip(infos, claims, strict=True):
            WebPusher(info).encode(payload)
            vapid.sign(dict(claim))

    def floor() -> None:
        for peer in peers:
            ec.generate_private_key(ec.SECP256R1()).exchange(ec.ECDH(), peer)

    return {
        "ours": ours,
        "pywebpush_encode": pywebpush_encode,
        "pywebpush_encode_vapid": pywebpush_encode_vapid,
        "floor": floor,
    }


def main() -> None:
    """Print ``bench:`` lines for each payload."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000, help="subscriptions per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    args = parser.parse_args()
    infos = _subscriptions(args.messages)
    for name, payload in _payloads().items():
        candidates = _candidates(infos, payload)
        samples: dict[str, list[float]] = {key: [] for key in candidates}
        for _ in range(args.rounds):
            for key, run in candidates.items():
                samples[key].append(_per_message_us(run, args.messages))
        median = {key: statistics.median(values) for key, values in samples.items()}
        tag = f"{name}_{len(payload)}B"
        for key, value in median.items():
            print(f"bench: webpush_{key}_{tag} = {value:.1f} us/message")
        ratio = median["ours"] / median["pywebpush_encode"]
        print(f"bench: webpush_ours_to_pywebpush_encode_{tag} = {ratio:.3f}")
        ratio_vapid = median["ours"] / median["pywebpush_encode_vapid"]
        print(f"bench: webpush_ours_to_pywebpush_encode_vapid_{tag} = {ratio_vapid:.3f}")
        print(f"bench: webpush_ours_to_floor_{tag} = {median['ours'] / median['floor']:.3f}")


if __name__ == "__main__":
    main()
