"""What has been trained already: the retraining cooldown asks it before spending a training."""

from __future__ import annotations

import time

from evergreen.registry.store import _quote, connect


def trained_recently(model: str, as_of: str, hours: float) -> str | None:
    """The run id of a training of `model` on data as of `as_of` that started within `hours`, if any.

    One day's data must not train twice within the spec's cooldown: a storm of gold updates or drift
    events within it gives one training, not fifty.
    """
    client = connect()
    exp = client.get_experiment_by_name(model)
    if exp is None:
        return None
    since_ms = int((time.time() - hours * 3600) * 1000)
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`evergreen.data.as_of` = '{_quote(as_of)}' and attributes.start_time > {since_ms}",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return runs[0].info.run_id if runs else None
