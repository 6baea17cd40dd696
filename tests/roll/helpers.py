"""The roll system as the contract (/work/shared/ROLL_API.md) describes it: signed HTTP
requests, built here with stdlib hmac/hashlib only (never roll.auth), and alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

API = "/api/roll/v1/alerts"
CLOSE = "/api/roll/v1/alerts/close"
DETECTED = "2026-11-20T08:00:00+08:00"
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def ric(first17: str) -> str:
    """A resident ID number with the right check character (GB 11643, ISO 7064 MOD 11-2)."""
    assert len(first17) == 17 and first17.isdigit()
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    check = (12 - total % 11) % 11
    return first17 + ("X" if check == 10 else str(check))


def wrong_check(number: str) -> str:
    """The same number with a wrong check character."""
    right = number[-1]
    return number[:-1] + ("0" if right != "0" else "1")


def sign(secret: str, stamp: str, message: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), stamp.encode() + b"." + message, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def alert(alert_id: str, school: str = "1301020001", **fields) -> dict:
    """A valid alert for `school`; keyword arguments override or (None) drop fields."""
    data = {
        "alert_id": alert_id,
        "kind": "id_duplicate",
        "school_code": school,
        "name": "张三",
        "gender": "M",
        "birth_date": "2012-03-01",
        "id_number": ric("13010220120301123"),
        "roll_no": None,
        "grade": "6",
        "graduating": False,
        "detected_at": DETECTED,
        "detail": "与学校 1101050001 的学生身份证号重复",
        "related_school_codes": ["1101050001"],
    }
    data.update(fields)
    return data


class Roll:
    """One key of the roll system talking to the platform over HTTP. A signature is
    never reused by accident: a request whose signature was already sent is stamped a
    second earlier (the contract refuses the same signature twice as a replay)."""

    def __init__(self, client, key_id: str, secret: str):
        self.client, self.key_id, self.secret = client, key_id, secret
        self.sent: set[str] = set()

    def _stamp(self, message: bytes) -> str:
        now = int(time.time())
        for back in range(0, 200):
            stamp = str(now - back)
            if sign(self.secret, stamp, message) not in self.sent:
                return stamp
        raise AssertionError("no fresh signature left")

    def headers(self, message: bytes, *, stamp: str | None = None, **override) -> dict:
        stamp = stamp or self._stamp(message)
        signature = sign(self.secret, stamp, message)
        self.sent.add(signature)
        headers = {
            "HTTP_X_ROLL_KEY": self.key_id,
            "HTTP_X_ROLL_TIMESTAMP": stamp,
            "HTTP_X_ROLL_SIGNATURE": signature,
        }
        for name, value in override.items():
            meta = "HTTP_X_ROLL_" + name.upper()
            if value is None:
                headers.pop(meta, None)
            else:
                headers[meta] = value
        return headers

    def post_raw(self, body: bytes, path: str = API, *, message: bytes | None = None, **kw):
        headers = self.headers(body if message is None else message, **kw)
        return self.client.generic("POST", path, body, content_type="application/json", **headers)

    def post(self, payload, path: str = API, **kw):
        return self.post_raw(json.dumps(payload, ensure_ascii=False).encode(), path, **kw)

    def send(self, alerts: list, batch_id: str = "hb-2026-11-20-0001", **kw):
        return self.post({"batch_id": batch_id, "alerts": alerts}, **kw)

    def close(self, alert_ids: list, outcome: str = "verified", **fields):
        return self.post({"alert_ids": alert_ids, "outcome": outcome, **fields}, CLOSE)

    def get(self, path_and_query: str = API, *, message: bytes | None = None, **kw):
        signed = path_and_query.encode() if message is None else message
        return self.client.get(path_and_query, **self.headers(signed, **kw))

    def feed(self, **query) -> dict:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        r = self.get(f"{API}?{qs}" if qs else API)
        assert r.status_code == 200, r.content
        return r.json()
