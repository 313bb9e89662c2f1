"""kafka-python, imported once and quietly.

kafka-python 3.0.12 emits 218 DeprecationWarnings on import (docs/decisions/0001-kafka-python-warnings.md);
the watcher imports this in Airflow's triggerer, whose log would otherwise fill with them. Only this import
is silenced.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka import errors as kafka_errors

__all__ = ["KafkaAdminClient", "KafkaProducer", "kafka_errors"]
