"""The drift event ledger (tables `drift_events`, `drift_runs`; shape: evergreen/storage/migrations/versions/).

Airflow turns a Kafka message into an asset event, but it can drop one while a run is active
(apache/airflow#56050) and groups events into runs by timing (#56750). So the ledger, not Airflow, decides
which events fire and which run consumed them:

- `record(event)` (in the watcher, per valid event) decides: duplicate, covered (a run already trains on
  data at least as new), queued (another event of the model is already armed: a storm fires once), or
  armed (return a payload: exactly one asset event). An armed event nobody claimed for `rearm_after_s`
  means its asset event was dropped: the next event arms again, so nothing waits forever.
- `claim(model, run_id, as_of)` (first task of a retrain run) takes every armed and queued event.
- `settle(model, run_id, as_of)` (last task) covers what arrived during the run for data it trained on and
  returns what is still pending, so the caller can start a follow-up run.
- `release(model, run_id)` (on failure) gives a failed run's events back: they are queued again.

Every decision runs under a per-model lock, so two watcher processes cannot both arm: `BEGIN IMMEDIATE`
on SQLite (one writer at a time), a transaction-scoped advisory lock on PostgreSQL. Only bound parameters
reach the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import sqlalchemy as sa

from evergreen.config import settings
from evergreen.contracts.drift_event import DriftDetected
from evergreen.contracts.model_spec import Retraining, load_spec
from evergreen.storage.sql import evergreen_engine, exclusive_transaction, table

log = logging.getLogger(__name__)

EVENTS = "drift_events"
RUNS = "drift_runs"

# Event statuses (drift_events.status)
ARMED = "armed"
QUEUED = "queued"
CONSUMED = "consumed"
COVERED = "covered"
DEAD_LETTER_FAILED = "dead_letter_failed"
STATUSES = (ARMED, QUEUED, CONSUMED, COVERED, DEAD_LETTER_FAILED)
PENDING = (ARMED, QUEUED)
# record()'s answer for an event_id already in the ledger (no row is written for it)
DUPLICATE = "duplicate"

# Run statuses (drift_runs.status)
RUNNING = "running"
SETTLED = "settled"
RELEASED = "released"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _naive_utc(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return utcnow()
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _iso_date(value: str | dt.date) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(value).isoformat()  # refuses anything but a date


# ------------------------------------------------------------------------------------------ database


def engine() -> sa.Engine:
    """The evergreen database of the *current* settings. Its revision is checked once per process (the
    watcher calls in for every message); a database nobody upgraded fails with one line naming the fix."""
    return evergreen_engine()


@cache
def _tables(eng: sa.Engine) -> tuple[sa.Table, sa.Table]:
    return table(eng, EVENTS), table(eng, RUNS)


@contextmanager
def _locked(eng: sa.Engine, model: str) -> Iterator[sa.Connection]:
    """One transaction that holds the model's decision lock until it commits or rolls back."""
    with exclusive_transaction(eng, f"evergreen.drift:{model}") as conn:
        yield conn


def _row(r: sa.Row) -> dict[str, Any]:
    out = dict(r._mapping)
    if isinstance(out.get("payload"), str):
        with contextlib.suppress(ValueError):  # always JSON when we wrote it; keep anything else as text
            out["payload"] = json.loads(out["payload"])
    for key, value in out.items():
        if isinstance(value, dt.datetime):
            out[key] = value.replace(tzinfo=dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return out


# ------------------------------------------------------------------------------------------ decisions


def _cooldown_hours(model: str) -> float:
    """The model's spec cooldown; a broken spec must not stop its events being recorded (the watcher would
    then fire without debounce, again and again): the default cooldown stands in, and the log says why."""
    try:
        return load_spec(model).retraining.cooldown_hours
    except (ValueError, OSError) as e:
        default = Retraining().cooldown_hours
        log.warning("%s: spec unreadable (%s); recording its event with the default %g h cooldown", model, e, default)
        return default


def record(
    event: DriftDetected,
    meta: Mapping[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
    rearm_after_s: float | None = None,
) -> str:
    """Record a valid event and decide what it does; returns its status or DUPLICATE (an event already
    recorded and no longer armed; one read again while armed returns ARMED: it fires again).

    `meta` is where it came from: topic, partition, offset (all optional). Only ARMED fires a run.
    """
    meta = meta or {}
    moment = _naive_utc(now)
    rearm = settings().drift_rearm_after_s if rearm_after_s is None else rearm_after_s
    cooldown = dt.timedelta(hours=_cooldown_hours(event.model))
    eng = engine()
    ev, runs = _tables(eng)
    values: dict[str, Any] = {
        "event_id": event.event_id,
        "model": event.model,
        "model_version": event.model_version,
        "drift_window": event.window,
        "payload": event.model_dump_json(),
        "source_topic": meta.get("topic"),
        "source_partition": meta.get("partition"),
        "source_offset": meta.get("offset"),
        "received_at": moment,
        "run_id": None,
        "as_of": None,
        "settled_at": None,
    }
    try:
        with _locked(eng, event.model) as conn:
            seen = conn.execute(sa.select(ev.c.status).where(ev.c.event_id == event.event_id)).first()
            if seen is not None:
                # At least once: an event read again while still armed (no run has claimed it) fires again.
                # The process that armed it may have died before Airflow stored its asset event (a triggerer
                # killed between the two), and only the redelivered record can start the run now. A second
                # asset event for a live one costs a run that finds the event claimed and skips.
                return ARMED if seen.status == ARMED else DUPLICATE
            covering = conn.execute(
                sa.select(runs.c.run_id, runs.c.as_of, runs.c.claimed_at)
                .where(
                    runs.c.model == event.model,
                    runs.c.status.in_((RUNNING, SETTLED)),
                    runs.c.as_of >= event.window,
                    runs.c.claimed_at >= moment - cooldown,
                )
                .order_by(runs.c.claimed_at.desc())
                .limit(1)
            ).first()
            if covering is not None:
                values.update(
                    status=COVERED,
                    run_id=covering.run_id,
                    as_of=covering.as_of,
                    settled_at=moment,
                    reason=f"run {covering.run_id} trains on data up to {covering.as_of} >= window "
                    f"{event.window} and was claimed within the {cooldown.total_seconds() / 3600:g} h cooldown",
                )
            else:
                armed = conn.execute(
                    sa.select(ev.c.event_id, ev.c.received_at)
                    .where(ev.c.model == event.model, ev.c.status == ARMED)
                    .order_by(ev.c.received_at.desc())
                    .limit(1)
                ).first()
                if armed is None:
                    values.update(status=ARMED, reason="first pending drift event of the model: fires one run")
                elif (age := (moment - armed.received_at).total_seconds()) < rearm:
                    values.update(status=QUEUED, reason=f"rides along with armed event {armed.event_id}")
                else:
                    values.update(
                        status=ARMED,
                        reason=f"re-armed: event {armed.event_id} armed {age:.0f} s ago was never claimed "
                        "(asset event presumably dropped, apache/airflow#56050)",
                    )
            conn.execute(sa.insert(ev), [values])
    except sa.exc.IntegrityError:
        # The same event_id under another model's lock won the insert: still a second copy.
        return DUPLICATE
    return values["status"]


def record_dead_letter_failure(
    envelope: Mapping[str, Any], *, error: str, meta: Mapping[str, Any] | None = None, now: dt.datetime | None = None
) -> str:
    """Keep a refused message that could not reach the dead-letter topic; returns its ledger id.

    The id derives from the message's position and content, so a redelivered copy is stored once.
    """
    meta = meta or {}
    key = json.dumps(
        [meta.get("topic"), meta.get("partition"), meta.get("offset"), envelope.get("value_sha256")], default=str
    )
    event_id = "dlq-" + hashlib.sha256(key.encode()).hexdigest()[:40]
    eng = engine()
    ev, _ = _tables(eng)
    moment = _naive_utc(now)
    values = {
        "event_id": event_id,
        "model": None,
        "model_version": None,
        "drift_window": None,
        "payload": json.dumps(envelope, sort_keys=True, default=str),
        "source_topic": meta.get("topic"),
        "source_partition": meta.get("partition"),
        "source_offset": meta.get("offset"),
        "received_at": moment,
        "status": DEAD_LETTER_FAILED,
        "run_id": None,
        "as_of": None,
        "settled_at": None,
        "reason": f"{envelope.get('reason')}: dead-letter produce failed: {error}"[:2000],
    }
    try:
        with eng.begin() as conn:
            conn.execute(sa.insert(ev), [values])
    except sa.exc.IntegrityError:
        pass  # already kept
    return event_id


def claim(model: str, run_id: str, as_of: str | dt.date, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """A retrain run of `model` on data up to `as_of` takes every armed and queued event of the model whose
    window its data covers (`window <= as_of`); an event for newer data stays pending for a run of its own.

    Returns the events this run consumed (oldest first). Idempotent: a retried claim task returns the same
    events plus any that arrived since.
    """
    as_of = _iso_date(as_of)
    moment = _naive_utc(now)
    eng = engine()
    ev, runs = _tables(eng)
    with _locked(eng, model) as conn:
        existing = conn.execute(sa.select(runs.c.model).where(runs.c.run_id == run_id)).first()
        if existing is None:
            conn.execute(
                sa.insert(runs),
                [{"run_id": run_id, "model": model, "as_of": as_of, "claimed_at": moment, "status": RUNNING}],
            )
        else:
            if existing.model != model:
                raise ValueError(f"run {run_id} already claimed drift events of model {existing.model}, not {model}")
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id)
                .values(as_of=as_of, claimed_at=moment, status=RUNNING, settled_at=None)
            )
        conn.execute(
            sa.update(ev)
            .where(ev.c.model == model, ev.c.status.in_(PENDING), ev.c.drift_window <= as_of)
            .values(status=CONSUMED, run_id=run_id, as_of=as_of, settled_at=moment, reason=f"claimed by run {run_id}")
        )
        rows = conn.execute(
            sa.select(ev)
            .where(ev.c.run_id == run_id, ev.c.status == CONSUMED)
            .order_by(ev.c.received_at, ev.c.event_id)
        ).all()
    return [_row(r) for r in rows]


def settle(model: str, run_id: str, as_of: str | dt.date, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """End of a retrain run: events that arrived meanwhile for data it trained on are covered by it.

    Returns {"run_id", "as_of", "covered": [event_id...], "pending": [rows with window > as_of],
    "follow_up_due": bool}: pending events need a run of their own (their asset event may have been
    dropped while this run was active, apache/airflow#56050, so the caller should make sure one starts).
    """
    as_of = _iso_date(as_of)
    moment = _naive_utc(now)
    eng = engine()
    ev, runs = _tables(eng)
    with _locked(eng, model) as conn:
        mine = (ev.c.model == model, ev.c.status.in_(PENDING), ev.c.drift_window <= as_of)
        covered = [r.event_id for r in conn.execute(sa.select(ev.c.event_id).where(*mine).order_by(ev.c.received_at))]
        if covered:
            conn.execute(
                sa.update(ev)
                .where(*mine)
                .values(
                    status=COVERED,
                    run_id=run_id,
                    as_of=as_of,
                    settled_at=moment,
                    reason=f"arrived during run {run_id}, which trained on data up to {as_of}",
                )
            )
        updated = conn.execute(
            sa.update(runs).where(runs.c.run_id == run_id).values(as_of=as_of, settled_at=moment, status=SETTLED)
        ).rowcount
        if not updated:  # a run that never claimed (e.g. claim skipped): still record that it trained
            conn.execute(
                sa.insert(runs),
                [
                    {
                        "run_id": run_id,
                        "model": model,
                        "as_of": as_of,
                        "claimed_at": moment,
                        "settled_at": moment,
                        "status": SETTLED,
                    }
                ],
            )
        left = conn.execute(
            sa.select(ev).where(ev.c.model == model, ev.c.status.in_(PENDING)).order_by(ev.c.received_at)
        ).all()
    pending_rows = [_row(r) for r in left]
    return {"run_id": run_id, "as_of": as_of, "covered": covered, "pending": pending_rows, "follow_up_due": bool(left)}


def release(model: str, run_id: str, reason: str = "run failed", *, now: dt.datetime | None = None) -> list[str]:
    """A failed run gives its events back (queued again) and stops covering later events; returns their ids.

    Nothing fires by itself: the next drift event arms (none is armed), or the daily safety-net run claims them.
    """
    moment = _naive_utc(now)
    eng = engine()
    ev, runs = _tables(eng)
    with _locked(eng, model) as conn:
        mine = (ev.c.model == model, ev.c.run_id == run_id, ev.c.status.in_((CONSUMED, COVERED)))
        ids = [r.event_id for r in conn.execute(sa.select(ev.c.event_id).where(*mine).order_by(ev.c.received_at))]
        if ids:
            conn.execute(
                sa.update(ev)
                .where(*mine)
                .values(
                    status=QUEUED,
                    run_id=None,
                    as_of=None,
                    settled_at=None,
                    reason=f"released by run {run_id}: {reason}"[:2000],
                )
            )
        conn.execute(sa.update(runs).where(runs.c.run_id == run_id).values(status=RELEASED, settled_at=moment))
    return ids


# ------------------------------------------------------------------------------------------ reading


def stale(older_than_s: float, *, now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Models with events pending for longer than `older_than_s` (their asset event was dropped, or they
    arrived while a run was active and that run trained on older data), with those events, oldest first.

    Nothing else will start their run before the next drift event or the 03:00 tick: the sweep starts one.
    (An event whose data a training covers never stays pending: `record`, `settle` and a cooldown-skipped
    plan mark it covered, naming the run.)
    """
    cutoff = _naive_utc(now) - dt.timedelta(seconds=older_than_s)
    eng = engine()
    ev, _ = _tables(eng)
    query = (
        sa.select(ev.c.model, ev.c.event_id)
        .where(ev.c.status.in_(PENDING), ev.c.received_at <= cutoff)
        .order_by(ev.c.model, ev.c.received_at, ev.c.event_id)
    )
    out: dict[str, list[str]] = {}
    with eng.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.model, []).append(r.event_id)
    return out


def pending(model: str | None = None) -> list[dict[str, Any]]:
    """Armed and queued events (oldest first): drift that no run has trained on yet."""
    eng = engine()
    ev, _ = _tables(eng)
    query = sa.select(ev).where(ev.c.status.in_(PENDING)).order_by(ev.c.received_at, ev.c.event_id)
    if model is not None:
        query = query.where(ev.c.model == model)
    with eng.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def events(model: str | None = None, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Every event in the ledger, newest first (dead letters have no model: asked for all, they come too)."""
    eng = engine()
    ev, _ = _tables(eng)
    query = sa.select(ev).order_by(ev.c.received_at.desc(), ev.c.event_id)
    if model is not None:
        query = query.where(ev.c.model == model)
    if limit is not None:
        query = query.limit(limit)
    with eng.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def for_run(run_id: str) -> list[dict[str, Any]]:
    """Events a run consumed or covered (oldest first)."""
    eng = engine()
    ev, _ = _tables(eng)
    with eng.connect() as conn:
        rows = conn.execute(sa.select(ev).where(ev.c.run_id == run_id).order_by(ev.c.received_at, ev.c.event_id))
        return [_row(r) for r in rows]


def get(event_id: str) -> dict[str, Any] | None:
    eng = engine()
    ev, _ = _tables(eng)
    with eng.connect() as conn:
        r = conn.execute(sa.select(ev).where(ev.c.event_id == event_id)).first()
    return None if r is None else _row(r)


def counts(model: str | None = None) -> dict[str, int]:
    """Events per status (every status present, zeros included)."""
    eng = engine()
    ev, _ = _tables(eng)
    query = sa.select(ev.c.status, sa.func.count()).group_by(ev.c.status)
    if model is not None:
        query = query.where(ev.c.model == model)
    out = dict.fromkeys(STATUSES, 0)
    with eng.connect() as conn:
        out.update({status: int(n) for status, n in conn.execute(query)})
    return out
