"""What people read on a terminal: fixed-width tables of plain rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def table(rows: Iterable[Mapping], columns: Sequence[str], width: int = 12) -> str:
    """Right-aligned columns, `-` for a missing value."""
    lines = ["  ".join(f"{c:>{width}}" for c in columns)]
    lines += ["  ".join(f"{'-' if r.get(c) is None else r[c]!s:>{width}}" for c in columns) for r in rows]
    return "\n".join(lines)


class progress:  # noqa: N801 - used as a context manager, reads as a phrase
    """A progress indicator for a long step: on a terminal an elapsed-seconds counter on one line, elsewhere
    a line every `every` seconds; then one line with the time it took.

        with progress("[demo] backfilling history"):
            ...
    """

    def __init__(self, label: str, every: float = 60, stream=None) -> None:
        self.label = label
        self.every = every
        self.stream = stream
        self.seconds = 0.0

    def __enter__(self) -> progress:
        import os
        import sys
        import threading
        import time

        if self.stream is None:
            # The terminal as it is now: the step may send fd 1 to a log file meanwhile (dag_runs.output_to).
            sys.stdout.flush()
            self.stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
            self._owned = True
        else:
            self._owned = False
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> None:
        import time

        period = 1.0 if self._tty else self.every
        while not self._stop.wait(period):
            elapsed = time.monotonic() - self._began
            if self._tty:
                self.stream.write(f"\r{self.label} ... {elapsed:.0f} s")
            else:
                self.stream.write(f"{self.label} ... {elapsed:.0f} s\n")
            self.stream.flush()

    def __exit__(self, exc_type, *exc) -> None:
        import time

        self._stop.set()
        self._thread.join()
        self.seconds = time.monotonic() - self._began
        end = "\r" if self._tty else ""
        status = "done" if exc_type is None else "FAILED"
        self.stream.write(f"{end}{self.label}: {status} in {self.seconds:.0f} s\n")
        self.stream.flush()
        if self._owned:
            self.stream.close()
