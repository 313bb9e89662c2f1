"""Drift events: the versioned schema, the Kafka producer, the watcher's apply function, the ledger.

The only room that knows Kafka. Import the submodule you need: `schema` and `ledger` are pure (no Kafka),
`producer` loads kafka-python, `watch` is what Airflow's triggerer imports
(`evergreen.events.drift_filter.on_drift_message`).
"""
