"""Free loopback ports for the local stack, tests and benchmarks (one helper; they must not collide)."""

from __future__ import annotations

import socket

# The ports a developer's own services hold by default (`make up`): never handed out to a test.
RESERVED_PORTS = frozenset({8080, 5000, 9092, 9093, 55432, 7077, 8090, 8091, 9000})


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1, none of them a reserved one."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)  # keep it bound so the next bind gets another port
            port = s.getsockname()[1]
            if port not in RESERVED_PORTS:
                ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def free_port() -> int:
    return free_ports(1)[0]
