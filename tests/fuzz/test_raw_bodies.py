"""Raw request bodies schemathesis does not write (it sends valid JSON): bytes that are
not UTF-8, text that is not JSON, JSON with numbers past any range (1e999, a
5,000-digit integer), NaN, deep nesting, and JSON of every shape, each signed as the
roll system signs, to both POST operations of the roll API. The answer is always 200
or a 4xx with a JSON `error` code; never a 5xx."""

import json
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.roll.helpers import API, CLOSE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FIGURES: Counter = Counter()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "alerts": json_values,
        "batch_id": json_values,
        "alert_ids": json_values,
        "outcome": json_values | st.sampled_from(["verified", "reopened"]),
        "detail": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b'{"alerts": [], "batch_id": 1e999}',
            b'{"alerts": [{"alert_id": NaN}]}',
            b'{"alerts": [' + b"9" * 5000 + b"]}",
            b'{"alert_ids": [], "outcome": "verified", "detail": -1e999}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"alerts": "\\ud800"}',
            b'{"alerts": [{"alert_id": "\\u0000", "kind": "id_invalid"}]}',
            b"\xef\xbb\xbf{}",  # a byte-order mark
            b"",
        ]
    ),
)


@pytest.fixture(autouse=True)
def queued_syncs(monkeypatch):
    from roll import tasks

    monkeypatch.setattr(tasks.sync_batch, "delay", lambda *a, **k: None)


@pytest.fixture
def roll(db, tree):
    from django.test import Client

    from roll import services
    from tests import factories
    from tests.roll.helpers import Roll

    key, secret = services.key_issue(
        actor=factories.manager(tree.province), unit=tree.province, label="fuzz"
    )
    return Roll(Client(enforce_csrf_checks=True), key.key_id, secret)


@settings(
    max_examples=EXAMPLES * 4,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(body=bodies, path=st.sampled_from([API, CLOSE]))
def test_any_body_gets_an_answer_or_a_clear_refusal(roll, body, path):
    response = roll.post_raw(body, path)
    FIGURES["bodies"] += 1
    FIGURES[f"status {response.status_code}"] += 1
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"] == "application/json"
    if response.status_code != 200:
        assert isinstance(response.json().get("error"), str)


def teardown_module():
    print(f"\nraw body figures: {dict(sorted(FIGURES.items()))}")
