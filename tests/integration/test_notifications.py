"""People are told, through a real SMTP server on loopback (aiosmtpd): a failed task, a promotion decision and
a drift fire each send one message naming the model, the version, the reason and the links; with no
connection, or a mail server that is down, nothing fails."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from evergreen.orchestration import notify
from tests.smtp_server import smtp_server

PROBE_DAG = """
import datetime as dt
from airflow.sdk import dag, task
from evergreen.orchestration.dagkit import DEFAULT_ARGS

@dag(dag_id="notify_probe", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
     default_args={**DEFAULT_ARGS, "retries": 0}, params={"model": "fraud"})
def notify_probe():
    @task
    def ok():
        return 1

    @task
    def boom(x):
        raise ValueError("the upstream drop is corrupt")

    boom(ok())

notify_probe()
"""


@pytest.fixture
def smtp(monkeypatch):
    with smtp_server() as server:
        monkeypatch.setenv("AIRFLOW_CONN_EVERGREEN_SMTP", server.connection("team@example.com, oncall@example.com"))
        yield server


def test_a_failed_task_sends_one_message_with_the_reason_and_the_run_link(smtp, airflow_db, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "notify_probe.py").write_text(PROBE_DAG)
    # dag.test() serializes the DAGs of its bundle (the dags folder, read when airflow was imported)
    import airflow.settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path))
    monkeypatch.setattr(airflow.settings, "DAGS_FOLDER", str(tmp_path))
    dag = DagBag(dag_folder=str(tmp_path / "notify_probe.py")).dags["notify_probe"]
    run = dag.test(logical_date=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert str(run.state) == "failed"
    (msg,) = smtp.wait_for(1)  # the failed task only: the task that succeeded sends nothing
    assert len(smtp.messages) == 1
    assert "task failed" in msg["Subject"]
    assert "notify_probe.boom failed" in msg["Subject"]
    assert msg["X-Envelope-To"] == "team@example.com, oncall@example.com"
    body = smtp.body(0)
    assert "ValueError: the upstream drop is corrupt" in body
    assert "fraud" in body  # the model, from the run's params
    assert f"/dags/notify_probe/runs/{run.run_id}" in body.replace("%3A", ":").replace("%2B", "+")


def test_a_drift_fire_sends_one_message_with_model_version_reason_and_event(smtp, kafka_broker, monkeypatch):
    from evergreen import config
    from evergreen.orchestration.score_and_watch import publish

    monkeypatch.setenv("EVERGREEN_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    config.reload()
    report = {
        "fires": True,
        "window": "2026-03-10",
        "model_version": "4",
        "history": [],
        "reasons": ["amount Hellinger 0.31 > 0.10"],
        "rule": "2 of the last 3 windows breach and the latest does",
        "drifted_features": {"amount": 0.31},
    }
    try:
        published = publish("fraud", report)
    finally:
        monkeypatch.undo()
        config.reload()
    assert published["published"] is True
    (msg,) = smtp.wait_for(1)
    assert msg["Subject"] == "[evergreen] drift fired: fraud v4 - drift on 2026-03-10"
    body = smtp.body(0)
    assert "amount Hellinger 0.31 &gt; 0.10" in body
    assert published["event_id"] in body


def test_without_a_connection_a_notification_is_logged_and_never_raises(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_EVERGREEN_SMTP", raising=False)
    with caplog.at_level(logging.INFO, logger="evergreen.notify"):
        sent = notify.promotion({"model": "fraud", "challenger_version": "2", "decision": "reject", "reason": "tie"})
    assert sent is False
    assert "no connection 'evergreen_smtp' configured, not sent" in caplog.text
    assert "fraud v2 - reject" in caplog.text


def test_a_mail_server_that_is_down_never_fails_the_caller(monkeypatch, caplog):
    from evergreen.devtools.ports import free_port

    with smtp_server() as server:
        server.port = free_port()  # nothing listens there
        monkeypatch.setenv("AIRFLOW_CONN_EVERGREEN_SMTP", server.connection())
    with caplog.at_level(logging.WARNING, logger="evergreen.notify"):
        sent = notify.promotion({"model": "fraud", "challenger_version": "2", "decision": "promote", "reason": "x"})
    assert sent is False
    assert "not sent" in caplog.text
