"""schemathesis against the live app, from the served OpenAPI document (/api/openapi.json).

Every operation, in both of schemathesis' modes: data that fits the schema and data
that does not (wrong types, missing fields, nulls, huge numbers, unicode …). Requests
go over HTTP to pytest-django's live server, as a county manager's logged-in session
(the session cookie, and the CSRF token on POST) and, for the roll API, signed as the
roll system signs them (ROLL_API.md; a `requests` auth hook signs the prepared body
byte for byte, and steps the timestamp back a second rather than reuse a signature).

Checks on every response: no 5xx; the status and content type are declared for the
operation and the body fits the declared schema; every refusal (4xx) is JSON with an
`error` code. Bounded and derandomized for CI (FUZZ_EXAMPLES examples per operation
and mode, 25 by default); `make fuzz` runs the long version and prints the figures.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core import openapi
from roll import services as roll_services
from tests import factories

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CSRF_TOKEN = "f" * 32  # Django accepts its unmasked 32-character secret in the header
FIGURES: Counter = Counter()

pytestmark = pytest.mark.django_db(transaction=True)


def _cases():
    """(operation, mode): negative data only where the operation takes some input."""
    found = []
    for path, params, op, _ in openapi.operations():
        label = f"{op.method} {path}"
        found.append((label, "positive"))
        if params or op.query or op.body is not None:
            found.append((label, "negative"))
    return sorted(found)


class RollSignature(requests.auth.AuthBase):
    """Signs requests to /api/roll/ as ROLL_API.md says: "{timestamp}.{raw body}" (GET:
    "{timestamp}.{path with query}"); runs after requests has prepared the body."""

    def __init__(self, key_id: str, secret: str):
        self.key_id, self.secret, self.used = key_id, secret.encode(), set()

    def __call__(self, request):
        if "/api/roll/" not in request.url:
            return request
        message = request.path_url.encode() if request.method == "GET" else (request.body or b"")
        if isinstance(message, str):
            message = message.encode()
        # The same request again (hypothesis repeats some) needs a timestamp not yet
        # used with it: 0, -1, +1, -2, +2 … seconds, inside the ±300 s window.
        offsets = [0] + [sign * n for n in range(1, 290) for sign in (-1, 1)]
        while True:
            now = int(time.time())
            for offset in offsets:
                stamp = str(now + offset)
                mac = hmac.new(self.secret, stamp.encode() + b"." + message, hashlib.sha256)
                signature = "sha256=" + mac.hexdigest()
                if signature not in self.used:
                    break
            else:
                time.sleep(1)  # every stamp of the window used: the window moves on
                continue
            break
        self.used.add(signature)
        request.headers.update(
            {"X-Roll-Key": self.key_id, "X-Roll-Timestamp": stamp, "X-Roll-Signature": signature}
        )
        return request


class Live:
    """The live app as the fuzzer sees it: an HTTP session that is logged in (session
    cookie, CSRF token) and signs roll API requests, and the ids of real objects its
    account may reach (a chat room, a problem record), so paths with `{pk}` are also
    tried on something that exists."""

    def __init__(self, url: str, http: requests.Session, pks: dict[str, list[int]]):
        self.url, self.http, self.pks = url, http, pks


@pytest.fixture
def live(live_server, monkeypatch):
    from chat import selectors as chat_selectors
    from chat import services as chat_services
    from roll import tasks
    from roll.models import ProblemRecord
    from tests.roll.helpers import alert

    monkeypatch.setattr(tasks.sync_batch, "delay", lambda *a, **k: None)
    tree = factories.small_tree()
    manager = factories.manager(tree.county)
    factories.staff(tree.school)
    key, secret = roll_services.key_issue(
        actor=factories.manager(tree.province), unit=tree.province, label="fuzz"
    )
    roll_services.intake(key=key, payload={"alerts": [alert("FUZZ-1", school=tree.school.code)]})
    chat_services.region_rooms_ensure(manager)
    rooms = [r["room"].pk for r in chat_selectors.room_list(manager)]
    records = list(ProblemRecord.objects.values_list("pk", flat=True))
    assert rooms and records
    client = Client()
    client.force_login(manager, backend="accounts.backends.PasswordBackend")
    http = requests.Session()
    http.headers.update(
        {
            "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF_TOKEN}",
            "X-CSRFToken": CSRF_TOKEN,
            "Accept": "application/json",
        }
    )
    http.auth = RollSignature(key.key_id, secret)
    yield Live(
        live_server.url,
        http,
        {"/chat/": rooms, "/roll/records/": records},
    )
    http.close()


@schemathesis.check
def clear_refusal(ctx, response, case):
    """A logged-in session is never redirected; a refusal is a 4xx with a JSON body
    naming an `error` code."""
    assert not 300 <= response.status_code < 400, f"redirected: {response.status_code}"
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert "json" in content_type, (
            f"{response.status_code} without a JSON body: {response.text[:200]!r}"
        )
        body = response.json()
        assert isinstance(body, dict) and body.get("error"), body
    return None


def _strategy(operation, mode, live: Live):
    from schemathesis import GenerationMode

    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))
    if mode == "positive" and "{pk}" in operation.path:
        pks = next(v for prefix, v in live.pks.items() if operation.path.startswith(prefix))
        strategy = strategy | st.one_of(
            operation.as_strategy(path_parameters={"pk": pk}) for pk in pks
        )
    return strategy


def _fuzz(strategy, live: Live, checks, statuses: Counter) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case):
        response = case.call(base_url=live.url, session=live.http)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks, additional_checks=[clear_refusal])

    run()


def test_every_operation_answers_within_its_schema_and_refuses_clearly(live):
    """Every operation of the served document, in both modes; failures of all
    operations are collected, then reported together."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{live.url}/api/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures = {}
    for label, mode in _cases():
        method, path = label.split(" ", 1)
        operation = schema[path][method]
        per_operation: Counter = Counter()
        try:
            _fuzz(_strategy(operation, mode, live), live, checks, per_operation)
        except Exception as exc:  # collected: every operation runs, all failures shown
            failures[f"{label} [{mode}]"] = f"{exc.__class__.__name__}: {exc}"[:3000]
        if path.startswith("/api/roll/") and per_operation[401]:
            # Every request is signed as the roll system signs: none may be refused as
            # unauthenticated (a replayed or mis-signed request is the harness's fault).
            failures[f"{label} [{mode}] 401"] = f"{per_operation[401]} signed requests got 401"
        FIGURES["operations"] += mode == "positive"
        FIGURES["runs"] += 1
        FIGURES["cases"] += sum(per_operation.values())
        FIGURES["failures"] += f"{label} [{mode}]" in failures
        print(f"{label} [{mode}]: {dict(sorted(per_operation.items()))}")
    print(f"schemathesis figures: {dict(FIGURES)}")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
