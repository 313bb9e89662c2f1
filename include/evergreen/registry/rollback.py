"""Rollback: point `champion` back at an earlier version in one step, by a named person, with a reason.

Every check runs before anything moves, so a refused rollback (no such version, no previous champion, the
target already champion, no reason or actor) changes nothing: no alias, no audit row. Then, in one
transaction with the audit row (decision "rollback"): `previous_champion` -> the replaced champion and
`champion` -> the target. Nothing is re-evaluated: a rollback is a human override, recorded as such.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evergreen.registry import audit, store
from evergreen.registry.policy import POLICY_ACTOR, ROLLBACK, Decision
from evergreen.registry.promotion import tag_decision


class RollbackError(ValueError):
    """A rollback was refused; nothing was changed."""


def rollback(
    model: str,
    *,
    to_version: str | None = None,
    reason: str,
    actor: str,
    triggered_by: dict[str, Any] | None = None,
) -> Decision:
    """Move `champion` of `model` to `to_version` (default: the `previous_champion` alias).
    `triggered_by` (e.g. the Airflow dag and run id) goes into the audit row."""
    if not reason or not reason.strip():
        raise RollbackError("a rollback needs a reason (it goes into the audit trail)")
    if not actor or not actor.strip() or actor == POLICY_ACTOR:
        raise RollbackError("a rollback needs a named actor (the person rolling back), not 'policy'")
    client = store.connect()
    current = store.aliases(client, model)
    known = store.versions(client, model)
    if not known:
        raise RollbackError(f"model {model!r} is not registered (no versions); nothing to roll back")
    champion = current.get(store.CHAMPION)
    if to_version is None:
        target = current.get(store.PREVIOUS_CHAMPION)
        if target is None:
            raise RollbackError(
                f"model {model!r} has no '{store.PREVIOUS_CHAMPION}' alias; pass a version "
                f"(--to-version) out of {', '.join(known)}"
            )
    else:
        target = str(to_version).strip()
        if target not in known:
            raise RollbackError(
                f"model {model!r} has no version {target!r}; registered versions: {', '.join(known)}; nothing changed"
            )
    if target == champion:
        raise RollbackError(f"{model} version {target} is already the champion; nothing changed")
    target_version = client.get_model_version(model, target)

    verdict = Decision(
        promote=True,
        decision=ROLLBACK,
        reason=f"rollback by {actor}: champion {champion or 'none'} -> {target}: {reason.strip()}",
        actor=actor,
    )
    decided_at = audit.now_utc()
    values = audit.row(
        decided_at=decided_at,
        model=model,
        challenger_version=target,
        champion_version=champion,
        challenger_metrics=None,
        champion_metrics=None,
        decision=ROLLBACK,
        reason=verdict.reason,
        actor=actor,
        triggered_by={"kind": "rollback", "requested_version": to_version, **(triggered_by or {})},
        run_id=target_version.run_id,
    )
    with audit.engine().begin() as conn:
        audit.insert(conn, values)
        if champion is not None:
            client.set_registered_model_alias(model, store.PREVIOUS_CHAMPION, champion)
        client.set_registered_model_alias(model, store.CHAMPION, target)
    tag_decision(client, model, target, ROLLBACK, verdict.reason, actor, audit.iso(decided_at))
    return dataclasses.replace(
        verdict,
        model=model,
        challenger_version=target,
        champion_version=champion,
        decided_at=audit.iso(decided_at),
        audit_id=values["id"],
        run_id=target_version.run_id,
    )
