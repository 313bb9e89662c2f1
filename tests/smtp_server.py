"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, for notification tests."""

from __future__ import annotations

import email
import email.policy
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from evergreen.devtools.ports import free_port


@dataclass
class Received:
    messages: list[EmailMessage] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook, by name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def connection(self, to: str = "team@example.com") -> str:
        """The Airflow connection (AIRFLOW_CONN_EVERGREEN_SMTP) that sends to this server."""
        extra = {"from_email": "evergreen@example.com", "to": to, "disable_ssl": True, "disable_tls": True}
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port, "extra": extra})

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def body(self, i: int) -> str:
        part = self.messages[i].get_body(preferencelist=("html", "plain"))
        return part.get_content() if part is not None else ""

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.messages


@contextmanager
def smtp_server() -> Iterator[Received]:
    from aiosmtpd.controller import Controller

    handler = Received(port=free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
