"""The `DriftDetected` event: what the monitoring step publishes and the drift watcher accepts.

Versioned (`schema_version`), strict (no extra fields, no "1" for 1), bounded (a whole message over
MAX_MESSAGE_BYTES is refused before it is parsed, so a hostile producer cannot make the triggerer spend
memory or CPU on it). `parse()` is the one door from bytes to an event: every refusal is an `InvalidEventError`
with a short machine-readable `code` (it becomes the dead letter's `reason`) and a bounded human `detail`.

Pure: no Kafka, no database. Other producers get the contract from `json_schema()` (docs/events.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from evergreen.contracts.model_spec import known_models

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024  # a real event is < 2 KiB; anything this big is a bug or an attack
MAX_FEATURES = 256  # more than any spec has features
MAX_DETAIL_CHARS = 1000  # a refusal's detail stays readable and small in the dead-letter record

# Reasons a message is refused (the dead-letter record's `reason`).
TOMBSTONE = "tombstone"
TOO_LARGE = "too_large"
NOT_UTF8 = "not_utf8"
INVALID_JSON = "invalid_json"
UNSUPPORTED_VERSION = "unsupported_schema_version"
UNKNOWN_MODEL = "unknown_model"
INVALID_SCHEMA = "invalid_schema"
REASONS = (TOMBSTONE, TOO_LARGE, NOT_UTF8, INVALID_JSON, UNSUPPORTED_VERSION, UNKNOWN_MODEL, INVALID_SCHEMA)

EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{7,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Score = Annotated[float, Field(allow_inf_nan=False)]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidEventError(ValueError):
    """A message that is not a valid DriftDetected event; `code` is one of REASONS."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail[:MAX_DETAIL_CHARS]
        super().__init__(f"{code}: {self.detail}")


class DriftDetected(BaseModel):
    """A drift finding for one model on one day's data (schema version 1)."""

    # strict: JSON 1 stays an int and "1" stays a string, so a producer's type bug is refused, not guessed.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, title="DriftDetected")

    event_id: EventId = Field(
        default_factory=lambda: uuid.uuid4().hex,
        description="Unique per finding (uuid4 hex by default); the ledger drops a second copy.",
    )
    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, description="Version of this schema.")
    model: Name = Field(description="A known model spec name (include/evergreen/contracts/specs/<model>.yaml).")
    model_version: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="Registry version of the model whose inputs drifted (the champion that scored)."
    )
    window: Annotated[str, StringConstraints(min_length=10, max_length=10)] = Field(
        description="ISO date (YYYY-MM-DD) of the day the drift was seen.",
        json_schema_extra={"format": "date"},
    )
    drifted_features: dict[Name, Score] = Field(
        min_length=1,
        max_length=MAX_FEATURES,
        description="Feature -> drift score (finite), only the features that breached.",
    )
    rule: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The drift rule that fired, as text (e.g. 'hellinger>0.15 in 3 of the last 5 windows')."
    )
    detected_at: AwareDatetime = Field(description="When the drift was detected, with a UTC offset.")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_is_an_integer(cls, value: Any) -> Any:
        # A Literal compares by equality, so 1.0 (and True) would pass for 1: the schema promises no coercion.
        if type(value) is not int:
            raise PydanticCustomError(
                "int_type", "schema_version must be the integer 1, got {value!r}", {"value": value}
            )
        return value

    @field_validator("window", mode="before")
    @classmethod
    def _window_from_date(cls, value: Any) -> Any:
        # Python producers may hand a date; on the wire it is always the ISO string.
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        return value

    @field_validator("window")
    @classmethod
    def _window_is_a_date(cls, value: str) -> str:
        if not _ISO_DATE.match(value):
            raise PydanticCustomError("iso_date", "window must be an ISO date YYYY-MM-DD")
        try:
            dt.date.fromisoformat(value)
        except ValueError as e:
            raise PydanticCustomError("iso_date", "window is not a calendar date: {error}", {"error": str(e)}) from e
        return value

    @field_validator("model")
    @classmethod
    def _model_is_known(cls, value: str) -> str:
        known = known_models()
        if value not in known:
            raise PydanticCustomError(
                "unknown_model", "unknown model {model}; known: {known}", {"model": repr(value[:128]), "known": known}
            )
        return value

    def to_json(self) -> bytes:
        """The wire form: compact UTF-8 JSON, the same bytes `parse()` accepts."""
        return self.model_dump_json().encode()

    def trigger_payload(self) -> dict[str, str]:
        """What the watcher returns to Airflow: small, because it lands in the metadata DB as the asset
        event's extra. Everything else is in the ledger under event_id."""
        return {
            "event_id": self.event_id,
            "model": self.model,
            "model_version": self.model_version,
            "window": self.window,
        }


def parse(raw: bytes | bytearray | memoryview | str | None) -> DriftDetected:
    """Bytes (a Kafka message value) -> DriftDetected, or InvalidEventError saying why not.

    Checks run cheapest first: tombstone, size (before any decoding), UTF-8, then one strict JSON
    validation by pydantic.
    """
    if raw is None:
        raise InvalidEventError(TOMBSTONE, "message value is null (tombstone)")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    raw = bytes(raw)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidEventError(TOO_LARGE, f"{len(raw)} bytes > limit {MAX_MESSAGE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEventError(NOT_UTF8, str(e)) from None
    try:
        return DriftDetected.model_validate_json(text)
    except ValidationError as e:
        raise _invalid(e) from None


def _invalid(error: ValidationError) -> InvalidEventError:
    errors = error.errors(include_url=False, include_input=False)
    types = {e["type"] for e in errors}
    if "json_invalid" in types:
        code = INVALID_JSON
    elif any(e["loc"][:1] == ("schema_version",) for e in errors):
        code = UNSUPPORTED_VERSION
    elif "unknown_model" in types:
        code = UNKNOWN_MODEL
    else:
        code = INVALID_SCHEMA
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:10])
    if len(errors) > 10:
        detail += f"; ... {len(errors) - 10} more"
    return InvalidEventError(code, detail)


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the wire format, for producers in other languages."""
    schema = DriftDetected.model_json_schema(mode="validation")
    schema["$id"] = f"https://evergreen.example/schemas/drift-detected/v{SCHEMA_VERSION}.json"
    schema["description"] = (
        f"Drift event, schema version {SCHEMA_VERSION}. A whole message over {MAX_MESSAGE_BYTES} bytes is "
        "refused. `model` must name a known model spec: " + ", ".join(known_models()) + "."
    )
    return schema


if __name__ == "__main__":  # python -m evergreen.contracts.drift_event > drift-detected.v1.json
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
