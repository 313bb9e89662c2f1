"""Drift events: the Kafka producer, the watcher's trigger and filter, dead letters, the ledger.

The only room that knows Kafka. Import the submodule you need: `ledger` needs no Kafka (SQL only),
`producer` loads kafka-python, `trigger` (`DriftEventTrigger`) and its filter
(`evergreen.events.drift_filter.on_drift_message`) are what Airflow's triggerer imports. The event's schema
is `evergreen.contracts.drift_event`.
"""
