"""DriftDetected: the wire contract of drift events (pure, no Kafka, no database)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from evergreen.contracts import drift_event
from evergreen.contracts.drift_event import DriftDetected, InvalidEventError, parse


def _event(**overrides) -> DriftDetected:
    fields = {
        "model": "fraud",
        "model_version": "7",
        "window": "2026-01-24",
        "drifted_features": {"amount": 0.31, "merchant_category": 0.22},
        "rule": "hellinger > 0.15 in 3 of the last 5 windows",
        "detected_at": dt.datetime(2026, 1, 25, 3, 0, tzinfo=dt.UTC),
    }
    fields.update(overrides)
    return DriftDetected(**fields)


def _wire(**changes) -> bytes:
    """A valid event's JSON with some fields replaced (or removed with None-sentinel `...`)."""
    body = json.loads(_event().to_json())
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body).encode()


def _code(raw) -> str:
    with pytest.raises(InvalidEventError) as refused:
        parse(raw)
    assert len(refused.value.detail) <= drift_event.MAX_DETAIL_CHARS
    return refused.value.code


def test_round_trip_is_exact_and_versioned():
    event = _event()
    assert parse(event.to_json()) == event
    assert event.schema_version == 1
    assert len(event.event_id) == 32  # uuid4 hex
    assert _event().event_id != event.event_id


def test_python_producers_may_pass_a_date_for_window():
    assert _event(window=dt.date(2026, 1, 24)).window == "2026-01-24"


def test_trigger_payload_is_small_json():
    payload = _event().trigger_payload()
    assert set(payload) == {"event_id", "model", "model_version", "window"}
    assert len(json.dumps(payload)) < 200


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (None, drift_event.TOMBSTONE),
        (b"\xff\xfe\x00garbage", drift_event.NOT_UTF8),
        (b"", drift_event.INVALID_JSON),
        (b"{not json", drift_event.INVALID_JSON),
        (b'{"model": "fraud",}', drift_event.INVALID_JSON),
        (b"[1, 2, 3]", drift_event.INVALID_SCHEMA),
        (b'"a string"', drift_event.INVALID_SCHEMA),
        (b"{}", drift_event.INVALID_SCHEMA),
        (b"x" * (drift_event.MAX_MESSAGE_BYTES + 1), drift_event.TOO_LARGE),
    ],
)
def test_not_an_event(raw, code):
    assert _code(raw) == code


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"extra_field": 1}, drift_event.INVALID_SCHEMA),
        ({"schema_version": 2}, drift_event.UNSUPPORTED_VERSION),
        ({"schema_version": "1"}, drift_event.UNSUPPORTED_VERSION),  # no "1" for 1
        ({"schema_version": 1.0}, drift_event.UNSUPPORTED_VERSION),  # no 1.0 for 1 either
        ({"schema_version": True}, drift_event.UNSUPPORTED_VERSION),
        ({"model": "churn"}, drift_event.UNKNOWN_MODEL),
        ({"model": 1}, drift_event.INVALID_SCHEMA),
        ({"model_version": 7}, drift_event.INVALID_SCHEMA),  # no 7 for "7"
        ({"window": "2026-02-30"}, drift_event.INVALID_SCHEMA),
        ({"window": "24/01/2026"}, drift_event.INVALID_SCHEMA),
        ({"window": "2026-01-24T00:00:00"}, drift_event.INVALID_SCHEMA),
        ({"drifted_features": {}}, drift_event.INVALID_SCHEMA),
        ({"drifted_features": {"amount": "0.3"}}, drift_event.INVALID_SCHEMA),
        ({"drifted_features": {"amount": True}}, drift_event.INVALID_SCHEMA),
        ({"drifted_features": {"amount": None}}, drift_event.INVALID_SCHEMA),
        ({"drifted_features": {f"f{i}": 0.1 for i in range(drift_event.MAX_FEATURES + 1)}}, drift_event.INVALID_SCHEMA),
        ({"drifted_features": {"x" * 129: 0.1}}, drift_event.INVALID_SCHEMA),
        ({"detected_at": "2026-01-25T03:00:00"}, drift_event.INVALID_SCHEMA),  # naive
        ({"detected_at": "yesterday"}, drift_event.INVALID_SCHEMA),
        ({"event_id": "short"}, drift_event.INVALID_SCHEMA),
        ({"event_id": "a b c d e f g h"}, drift_event.INVALID_SCHEMA),
        ({"rule": ""}, drift_event.INVALID_SCHEMA),
        ({"rule": ...}, drift_event.INVALID_SCHEMA),
    ],
)
def test_wrong_schema_or_types(changes, code):
    assert _code(_wire(**changes)) == code


def test_non_finite_scores_are_refused():
    raw = _event().to_json().replace(b"0.31", b"NaN")
    assert _code(raw) in (drift_event.INVALID_JSON, drift_event.INVALID_SCHEMA)
    with pytest.raises(ValueError, match="finite"):
        _event(drifted_features={"amount": float("inf")})


def test_size_is_checked_before_parsing():
    # Valid JSON of an otherwise fine event, padded past the limit: refused for size, not parsed.
    raw = _wire(rule="r" * drift_event.MAX_MESSAGE_BYTES)
    assert _code(raw) == drift_event.TOO_LARGE


def test_json_schema_for_other_producers():
    js = drift_event.json_schema()
    assert js["additionalProperties"] is False
    assert set(js["required"]) == {"model", "model_version", "window", "drifted_features", "rule", "detected_at"}
    assert js["properties"]["schema_version"]["const"] == 1
    assert js["properties"]["window"]["format"] == "date"
    json.dumps(js)  # serialisable as is
