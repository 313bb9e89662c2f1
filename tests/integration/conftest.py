"""Integration-test helpers. The `kafka_broker` fixture itself lives in tests/conftest.py (one broker per
session, shared with tests/e2e); names are re-exported here for modules that import them from conftest."""

from tests.kafka_broker import KafkaBroker, KafkaBrokerError, free_ports  # noqa: F401
