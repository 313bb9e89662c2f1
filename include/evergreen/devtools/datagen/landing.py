"""From a day's transactions to landing files: natural dirt, bad-data scenarios, CSV and JSON Lines.

Also the two delayed feeds, each written by arrival date: labels (chargebacks and confirmations) and refund
disputes. Strings are built with Arrow compute kernels over whole
columns; JSON Lines are assembled the same way because every value we write is an id, an enum, a number
or a timestamp (nothing that needs escaping), which is ~30x faster than a general JSON encoder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from evergreen.contracts import data_contract
from evergreen.devtools.datagen.day import DIRT_STREAM, POS, SCENARIO_STREAM, DayTransactions
from evergreen.devtools.datagen.disputes import REASONS, DayDisputes
from evergreen.devtools.datagen.population import ALL_CATEGORIES, Population
from evergreen.devtools.datagen.scenarios import DUPLICATE_FLOOD, NULL_BURST, SCHEMA_BREAK, ScenarioWindow

WEB_APP_FILE, POS_FILE, LABELS_FILE, DISPUTES_FILE = "web_app.csv", "pos.jsonl", "labels.csv", "disputes.csv"

# Natural dirt, every day: the gateway re-sends a few rows, a few amounts are garbage, devices go missing.
RESEND_RATE, OUT_OF_RANGE_RATE, NULL_DEVICE_RATE = 0.001, 0.0005, 0.002
# A re-send lands a little later in the same file, not next to the original.
RESEND_MAX_LAG_ROWS = 500
NULL_BURST_SHARE, DUPLICATE_FLOOD_SHARE = 0.30, 0.25
AMOUNT_COLUMN, AMOUNT_CENTS_COLUMN = "amount", "amount_cents"
# Labels of event day D arrive by D+10 (the longest chargeback); one spare day for safety.
LABEL_ARRIVAL_HORIZON_DAYS = 11
# Disputes of event day D are raised by D+14 (the dispute window); one spare day.
DISPUTE_ARRIVAL_HORIZON_DAYS = data_contract.DISPUTE_WINDOW_DAYS + 1


@dataclass(frozen=True)
class ArrivalFeed:
    """A feed filed by the day its rows arrive (`landing/<name>/<arrival day>/<file>`), for any event day."""

    name: str
    file: str
    columns: tuple[data_contract.Column, ...]
    time: str  # the arrival instant; files are sorted by (time, key)
    key: str
    horizon_days: int  # rows of event day D arrive by D + horizon_days


LABEL_FEED = ArrivalFeed(
    "labels", LABELS_FILE, data_contract.LABEL_COLUMNS, "label_time", "transaction_id", LABEL_ARRIVAL_HORIZON_DAYS
)
DISPUTE_FEED = ArrivalFeed(
    "disputes", DISPUTES_FILE, data_contract.DISPUTE_COLUMNS, "raised_at", "dispute_id", DISPUTE_ARRIVAL_HORIZON_DAYS
)


@dataclass(frozen=True)
class DayFiles:
    """What lands for one day: one Arrow table per file, plus what was injected."""

    tables: dict[str, pa.Table]
    dirt: dict[str, int]
    columns: list[str]


def landing_files(
    tx: DayTransactions, population: Population, seed: int, windows: Sequence[ScenarioWindow]
) -> DayFiles:
    active = {w.name for w in windows if w.active_on(tx.day)}
    n, ordinal = len(tx), tx.day.toordinal()

    rng = np.random.default_rng([seed, ordinal, DIRT_STREAM])
    out_of_range = rng.random(n) < OUT_OF_RANGE_RATE
    garbage_kind = rng.integers(0, 3, n)
    null_device = rng.random(n) < NULL_DEVICE_RATE
    resend = rng.random(n) < RESEND_RATE
    lag = rng.integers(1, RESEND_MAX_LAG_ROWS + 1, n)

    null_burst = np.zeros(n, dtype=bool)
    if NULL_BURST in active:
        null_burst = np.random.default_rng([seed, ordinal, SCENARIO_STREAM[NULL_BURST]]).random(n)
        null_burst = null_burst < NULL_BURST_SHARE
    if DUPLICATE_FLOOD in active:
        flood = np.random.default_rng([seed, ordinal, SCENARIO_STREAM[DUPLICATE_FLOOD]]).random(n)
        resend |= flood < DUPLICATE_FLOOD_SHARE

    amount = tx.amount.copy()
    # Negative (a refund sign slipped), zero (a test ping) or absurdly large (cents sent as units).
    amount = np.select(
        [out_of_range & (garbage_kind == 0), out_of_range & (garbage_kind == 1), out_of_range],
        [-amount, 0.0, np.round(50_000.0 + amount * 100.0, 2)],
        amount,
    )

    # File order: each row at its event-time position; a re-send a few rows later.
    resent = np.flatnonzero(resend)
    position = np.concatenate([2 * np.arange(n), 2 * np.minimum(resent + lag[resent], n - 1) + 1])
    rows = np.concatenate([np.arange(n), resent])[np.argsort(position, kind="stable")]

    take = pa.array(rows)
    columns: dict[str, pa.Array] = {
        "transaction_id": transaction_ids(tx.day, n).take(take),
        "event_time": iso_times(tx.day, tx.second[rows]),
        "customer_id": _values_at(population.customers.ids, tx.customer[rows], null_burst[rows]),
        "merchant_id": _values_at(population.merchants.ids, tx.merchant[rows]),
        AMOUNT_COLUMN: pa.array(amount[rows], mask=null_burst[rows]),
        "currency": _values_at(data_contract.CURRENCIES, tx.currency[rows]),
        "category": _values_at(ALL_CATEGORIES, tx.category[rows]),
        "channel": _values_at(data_contract.CHANNELS, tx.channel[rows]),
        "device": _values_at(data_contract.DEVICES, tx.device[rows], null_device[rows]),
        "country": _values_at(data_contract.COUNTRIES, tx.country[rows]),
    }
    if SCHEMA_BREAK in active:
        # An upstream release starts sending integer cents under a new name, in both feeds at once.
        cents = pa.array(np.round(amount[rows] * 100.0).astype(np.int64), mask=null_burst[rows])
        columns = {
            (AMOUNT_CENTS_COLUMN if name == AMOUNT_COLUMN else name): (cents if name == AMOUNT_COLUMN else values)
            for name, values in columns.items()
        }
    table = pa.table(columns)
    at_pos = pa.array(tx.channel[rows] == POS)
    return DayFiles(
        tables={WEB_APP_FILE: table.filter(pc.invert(at_pos)), POS_FILE: table.filter(at_pos)},
        dirt={
            "duplicates": len(resent),
            "out_of_range": int(out_of_range.sum()),
            "null_device": int(null_device.sum()),
            "null_burst": int(null_burst.sum()),
        },
        columns=list(columns),
    )


def labels(tx: DayTransactions) -> pa.Table:
    """One label row per real transaction, with the day it arrives on."""
    label_epoch = _epoch_seconds(tx.day) + tx.second + tx.label_delay_s
    arrival_ordinal = label_epoch // 86_400 + _EPOCH_ORDINAL
    return pa.table({
        "transaction_id": transaction_ids(tx.day, len(tx)),
        "is_fraud": pc.cast(pa.array(tx.is_fraud.astype(np.int8)), pa.string()),
        "label_time": iso_times_epoch(label_epoch),
        "_arrival": pa.array(arrival_ordinal),
    })  # fmt: skip


def disputes(tx: DayTransactions, d: DayDisputes) -> pa.Table:
    """One row per dispute (two for a re-sent one), with the day it is raised on (`_arrival`).

    `dispute_id` is `dp-YYYYMMDD-NNNNNNN`: the purchase's day and sequence number (a purchase is disputed at
    most once), so an id does not depend on which other purchases were disputed.
    """
    rows = np.flatnonzero(d.disputed)
    rows = np.sort(np.concatenate([rows, np.flatnonzero(d.resend)]), kind="stable")
    raised = _epoch_seconds(tx.day) + tx.second[rows] + d.delay_s[rows]
    take = pa.array(rows)
    return pa.table({
        "dispute_id": _ids("dp", tx.day, len(tx)).take(take),
        "transaction_id": transaction_ids(tx.day, len(tx)).take(take),
        "raised_at": iso_times_epoch(raised),
        "reason_code": _values_at(REASONS, d.reason[rows]),
        "_arrival": pa.array(raised // 86_400 + _EPOCH_ORDINAL),
    })  # fmt: skip


def transaction_ids(day: date, n: int) -> pa.Array:
    """`tx-YYYYMMDD-0000001`...: unique across days, ordered by event time within a day."""
    return _ids("tx", day, n)


def _ids(prefix: str, day: date, n: int) -> pa.Array:
    seq = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    return pc.binary_join_element_wise(f"{prefix}-{day:%Y%m%d}-", pc.utf8_lpad(seq, 7, "0"), "")


def event_day_of(transaction_id: pa.Array) -> pa.Array:
    """The `YYYYMMDD` a transaction id was issued on (ids embed their event day)."""
    return pc.utf8_slice_codeunits(transaction_id, 3, 11)


def iso_times(day: date, seconds_of_day: np.ndarray) -> pa.Array:
    """`YYYY-MM-DDTHH:MM:SSZ` for seconds since midnight of `day`."""
    return pc.binary_join_element_wise(f"{day.isoformat()}T", _clock().take(pa.array(seconds_of_day)), "")


def iso_times_epoch(epoch_seconds: np.ndarray) -> pa.Array:
    days = epoch_seconds // 86_400
    unique, inverse = np.unique(days, return_inverse=True)
    prefixes = pa.array([f"{date.fromordinal(int(d) + _EPOCH_ORDINAL).isoformat()}T" for d in unique])
    return pc.binary_join_element_wise(
        prefixes.take(pa.array(inverse)), _clock().take(pa.array(epoch_seconds % 86_400)), ""
    )


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _epoch_seconds(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) * 86_400


@lru_cache(maxsize=1)
def _clock() -> pa.Array:
    """`HH:MM:SSZ` for every second of a day, so a timestamp column is one `take`, not n formats."""
    stamps = np.datetime_as_string(np.datetime64("1970-01-01T00:00:00") + np.arange(86_400), unit="s")
    return pa.array(np.char.add(np.char.partition(stamps, "T")[:, 2], "Z"))


def _values_at(names: Sequence[str] | np.ndarray, index: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """The string values at these indexes; rows flagged in `null` become nulls."""
    return pa.array(np.asarray(names, dtype=object)).take(pa.array(index, mask=null))


# --- writing -----------------------------------------------------------------------------------------


def write_csv(table: pa.Table, path: Path) -> None:
    # No quoting: every value is an id, enum, number or timestamp. Arrow refuses to write a value that
    # would need quotes in this mode, so a future free-text column fails loudly instead of corrupting.
    # The header is written by hand because Arrow quotes header names whatever the quoting style.
    body = pa.BufferOutputStream()
    pcsv.write_csv(table, body, pcsv.WriteOptions(include_header=False, quoting_style="none"))
    write_bytes_atomic(path, (",".join(table.column_names) + "\n").encode() + body.getvalue().to_pybytes())


def write_jsonl(table: pa.Table, path: Path) -> None:
    write_bytes_atomic(path, jsonl_bytes(table))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def jsonl_bytes(table: pa.Table) -> bytes:
    """JSON Lines for a table of plain ids, enums and numbers; nulls become JSON null."""
    if table.num_rows == 0:
        return b""
    pieces = []
    for i, name in enumerate(table.column_names):
        col = table.column(name).combine_chunks()
        key = ("{" if i == 0 else ",") + f'"{name}":'
        if pa.types.is_string(col.type):
            text = pc.binary_join_element_wise(key + '"', col, '"', "")
        else:
            text = pc.binary_join_element_wise(key, pc.cast(col, pa.string()), "")
        pieces.append(pc.coalesce(text, pa.scalar(key + "null")))
    lines = pc.binary_join_element_wise(*pieces, "}\n", "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    # A string array's data buffer is its values back to back: exactly the file's bytes.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def write_by_arrival(landing: Path, feed: ArrivalFeed, new: pa.Table, event_days: Iterable[date]) -> dict[str, int]:
    """Merge these days' rows of a feed into its arrival-date files; returns rows per touched arrival file.

    Rows already there from other event days stay (an incremental run adds to the same arrival day);
    rows from the days being (re)generated are replaced. Rows are sorted by (time, key), so a file is the
    same bytes however the days were split across calls.
    """
    event_days = sorted(event_days)
    regenerated = pa.array([f"{d:%Y%m%d}" for d in event_days])
    root = landing / feed.name
    arrivals = {int(o) for o in pc.unique(new.column("_arrival")).to_numpy()}
    # Arrival folders a previous run of these days may have written, even if this run writes none there.
    horizon = range(event_days[0].toordinal(), event_days[-1].toordinal() + feed.horizon_days + 1)
    arrivals |= {o for o in horizon if (root / date.fromordinal(o).isoformat() / feed.file).exists()}

    counts = {}
    for ordinal in sorted(arrivals):
        path = root / date.fromordinal(ordinal).isoformat() / feed.file
        part = new.filter(pc.equal(new.column("_arrival"), ordinal)).drop_columns(["_arrival"])
        if path.exists():
            old = read_feed(path, feed)
            keep = pc.invert(pc.is_in(event_day_of(old.column("transaction_id")), value_set=regenerated))
            part = pa.concat_tables([old.filter(keep), part])
        if part.num_rows == 0:
            path.unlink(missing_ok=True)
            continue
        part = part.take(pc.sort_indices(part, [(feed.time, "ascending"), (feed.key, "ascending")]))
        write_csv(part, path)
        counts[path.parent.name] = part.num_rows
    return counts


def write_labels(landing: Path, new: pa.Table, event_days: Iterable[date]) -> dict[str, int]:
    return write_by_arrival(landing, LABEL_FEED, new, event_days)


def read_feed(path: Path, feed: ArrivalFeed) -> pa.Table:
    names = data_contract.names(feed.columns)
    return pcsv.read_csv(
        path, convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    ).select(names)


def read_labels(path: Path) -> pa.Table:
    return read_feed(path, LABEL_FEED)


def _atomic(path: Path, write) -> None:
    # Write beside the target and rename: a reader never sees half a file. The dot prefix keeps Spark
    # (which skips hidden files) from picking up the temporary one.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(str(tmp))
    os.replace(tmp, path)
