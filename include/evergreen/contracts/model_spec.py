"""Model specs (`contracts/specs/<model>.yaml`) as typed objects. The code reads everything model-specific from here.

Where specs come from: the package's own folder (`SPECS_DIR`, shipped inside the package) always loads; each
folder in `EVERGREEN_SPECS_DIRS` (os.pathsep-separated) adds its `*.yaml`. A spec in an added folder with the
name of a built-in one overrides it (a deployment's tuned copy: `evergreen demo` does this); the same name in
two added folders is an error. A spec's name is its file name without `.yaml`, and its `name:` must say so.

Specs are strict: an unknown key, a metric training does not produce, a column the source table's contract
does not have, a number outside its range is refused with one line, `<file>: <field.path>: <problem>`
(`SpecError`). `evergreen specs check` runs the same checks on every spec a deployment would load.
"""

from __future__ import annotations

import hashlib
import json
import os
import types
import typing
from collections import Counter
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from evergreen.contracts import data_contract

# Found through the import system, not the checkout: the same in a wheel, an editable install or a zip.
SPECS_DIR: Traversable = resources.files("evergreen.contracts") / "specs"
SPEC_SUFFIX = ".yaml"
SPECS_DIRS_ENV = "EVERGREEN_SPECS_DIRS"
REPLACED_ENV = "EVERGREEN_SPECS_DIR"  # the single folder that replaced the built-in one: refused, not read

# Every metric training.metrics produces (`score_card`, `evaluate`, `at_threshold`): the names a spec's
# primary metric and guards may use. tests/unit/test_spec_strict.py ties this list to what training returns.
KNOWN_METRICS: tuple[str, ...] = (
    "pr_auc",
    "roc_auc",
    "recall_at_fpr",
    "brier",
    "rows",
    "positives",
    "base_rate",
    "score_ms_per_10k",
    "threshold",
    "precision_at_threshold",
    "recall_at_threshold",
    "fpr_at_threshold",
    "flagged_share",
)
DRIFT_MEASURES = ("hellinger",)  # the only one evergreen.monitoring implements
SOURCE_LAYERS = ("gold",)  # models train and score on gold only

# A non-empty list (a categorical vocabulary, a row selection's values).
NonEmpty = Annotated[list[str], Field(min_length=1)]


class SpecError(ValueError):
    """A spec that cannot be loaded: one line, `<file>: <field.path>: <problem>`."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


def _problems(*problems: tuple[str, str]) -> PydanticCustomError:
    """A validator's findings, each (field path below the validated model, problem), as one pydantic error."""
    detail = "; ".join(f"{field}: {problem}" if field else problem for field, problem in problems)
    return PydanticCustomError("spec", "{detail}", {"detail": detail, "problems": list(problems)})


def _listed(values: typing.Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


class _Strict(BaseModel):
    """Every section refuses keys it does not know: a misspelled key is an error, never silently a default."""

    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    layer: str = "gold"
    table: str = "features"
    key: str = "transaction_id"
    time: str = "event_time"
    # Row selection: only rows whose column holds one of the listed values (e.g. {channel: [pos]}: a POS-only
    # model). Validated here against the table's contract; applied when gold is read.
    where: dict[str, Annotated[list[str | int | bool], Field(min_length=1)]] = Field(default_factory=dict)

    @field_validator("where", mode="before")
    @classmethod
    def _where_values_are_scalars(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        wrong = [
            (str(col), f"{v!r} is not a string, integer or boolean")
            for col, values in value.items()
            if isinstance(values, list)
            for v in values
            if not isinstance(v, (str, int, bool))
        ]
        if wrong:
            raise _problems(*wrong)
        return value

    @model_validator(mode="after")
    def _in_the_contract(self) -> Source:
        if self.layer not in SOURCE_LAYERS:
            raise _problems(("layer", f"unknown layer {self.layer!r} (known: {_listed(SOURCE_LAYERS)})"))
        if self.table not in data_contract.GOLD_TABLES:
            known = _listed(data_contract.GOLD_TABLES)
            raise _problems(("table", f"unknown {self.layer} table {self.table!r} (known: {known})"))
        found = []
        for field in ("key", "time"):
            if (problem := self.missing_column(getattr(self, field))) is not None:
                found.append((field, problem))
        for col, values in self.where.items():
            found += [(f"where.{col}", p) for p in self._where_problems(col, values)]
        if found:
            raise _problems(*found)
        return self

    @property
    def columns(self) -> tuple[data_contract.Column, ...]:
        return data_contract.GOLD_TABLES[self.table]

    def missing_column(self, name: str) -> str | None:
        """None if `name` is a column of the source table's contract, else the problem, as words."""
        if name in data_contract.names(self.columns):
            return None
        return f"{name!r} is not a column of {self.layer}/{self.table} (data_contract.GOLD_TABLES)"

    def _where_problems(self, col: str, values: list[str | int | bool]) -> list[str]:
        if (problem := self.missing_column(col)) is not None:
            return [problem]
        kind = data_contract.column(self.columns, col).type
        if kind == data_contract.STRING:
            wrong = [v for v in values if not isinstance(v, str)]
        elif kind in (data_contract.INT, data_contract.LONG):
            wrong = [v for v in values if isinstance(v, bool) or not isinstance(v, int)]
        else:
            return [f"selecting rows on a {kind} column is not supported (string, int or long columns)"]
        if wrong:
            return [f"{_listed(repr(v) for v in wrong)} not of the column's type {kind}"]
        vocabulary = data_contract.GOLD_VOCABULARIES.get(col)
        outside = [v for v in values if vocabulary is not None and v not in vocabulary]
        if outside:
            return [f"{_listed(repr(v) for v in outside)} not in the contract's values (known: {_listed(vocabulary)})"]
        return []


class Features(_Strict):
    numeric: list[str]
    # Each categorical feature with its known vocabulary (a value outside it encodes as "other").
    categorical: dict[str, NonEmpty] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _each_once(self) -> Features:
        twice = [n for n, count in Counter(self.names).items() if count > 1]
        if twice:
            raise _problems(("", f"{_listed(repr(n) for n in twice)} listed more than once"))
        return self

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class Label(_Strict):
    column: str
    time: str
    max_delay_days: int = Field(ge=0)
    mature_after_days: int = Field(ge=0)


class Split(_Strict):
    train_days: int = Field(ge=3)
    validation_days: int = Field(ge=1)
    holdout_days: int = Field(ge=1)


class Guard(_Strict):
    tolerance: float | None = Field(None, ge=0)
    tolerance_ratio: float | None = Field(None, ge=1)
    lower_is_better: bool = False
    fpr: float | None = Field(None, gt=0, lt=1)


class Metric(_Strict):
    primary: str
    guards: dict[str, Guard] = Field(default_factory=dict)

    @field_validator("primary")
    @classmethod
    def _primary_is_known(cls, value: str) -> str:
        if value not in KNOWN_METRICS:
            raise _problems(("", f"unknown metric {value!r} (known: {_listed(KNOWN_METRICS)})"))
        return value

    @model_validator(mode="after")
    def _guards_are_known(self) -> Metric:
        unknown = [g for g in self.guards if g not in KNOWN_METRICS]
        if unknown:
            raise _problems(*[(f"guards.{g}", f"unknown metric (known: {_listed(KNOWN_METRICS)})") for g in unknown])
        return self


class Policy(_Strict):
    min_pr_auc: float = Field(ge=0, le=1)
    min_gain: float = Field(ge=0)


class Search(_Strict):
    budget: int = Field(0, ge=0)
    space: dict[str, list[float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ranges(self) -> Search:
        wrong = [
            (f"space.{name}", f"must be a [low, high] pair with low <= high, got {bounds}")
            for name, bounds in self.space.items()
            if len(bounds) != 2 or bounds[0] > bounds[1]
        ]
        if wrong:
            raise _problems(*wrong)
        return self


class Training(_Strict):
    seed: int = 7
    early_stopping_rounds: int = Field(30, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    search: Search = Field(default_factory=Search)


class Retraining(_Strict):
    cooldown_hours: float = Field(12, ge=0)
    # While the model is under drift, train on only the latest mature days (None: the usual window).
    drift_window_days: int | None = Field(None, ge=3)


class DriftPerformance(_Strict):
    """Performance decay from delayed labels: recall on the frauds known so far at a fixed score cut."""

    alert_share: float = Field(0.02, gt=0, lt=1)  # the cut: the top `alert_share` of held-out scores are alerted on
    tolerance: float = Field(0.4, gt=0, le=1)  # breach when recall falls by more than this share of the reference's
    lookback_days: int = Field(7, ge=1)  # scored days whose known frauds count
    min_positives: int = Field(30, ge=1)  # fewer known frauds than this: no verdict (recall is too noisy)


class Drift(_Strict):
    """The drift rule: per-window thresholds, and fire when k of the last n windows breach and the latest does.

    Thresholds have no upper bound on purpose: the Hellinger distance is at most 1, so a threshold above 1
    switches that check off (e.g. `prediction_threshold: 1.01`: prediction drift never breaches)."""

    measure: str = "hellinger"
    bins: int = Field(20, ge=2)  # reference-quantile bins per numeric column (plus one bin for nulls)
    default_threshold: float = Field(0.10, gt=0)
    thresholds: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)  # per-feature overrides
    exclude: list[str] = Field(default_factory=list)  # features a one-day window cannot be compared on
    prediction_threshold: float = Field(0.10, gt=0)
    performance: DriftPerformance = Field(default_factory=DriftPerformance)
    k: int = 2
    n: int = 3

    @field_validator("measure")
    @classmethod
    def _implemented(cls, value: str) -> str:
        if value not in DRIFT_MEASURES:
            raise _problems(("", f"unknown measure {value!r} (implemented: {_listed(DRIFT_MEASURES)})"))
        return value

    @model_validator(mode="after")
    def _check(self) -> Drift:
        if not 1 <= self.k <= self.n:
            raise _problems(("k", f"drift rule needs 1 <= k <= n, got k={self.k}, n={self.n}"))
        return self

    def threshold(self, feature: str) -> float:
        return self.thresholds.get(feature, self.default_threshold)

    @property
    def rule(self) -> str:
        return f"{self.k} of the last {self.n} windows breach and the latest does"


class ModelSpec(_Strict):
    name: str
    description: str = ""
    owner: str = ""
    source: Source = Field(default_factory=Source)
    features: Features
    label: Label
    split: Split
    metric: Metric
    policy: Policy
    training: Training = Field(default_factory=Training)
    retraining: Retraining = Field(default_factory=Retraining)
    drift: Drift = Field(default_factory=Drift)

    @model_validator(mode="after")
    def _columns_exist(self) -> ModelSpec:
        """Features and label are columns of the source table; the drift rule names only features."""
        found: list[tuple[str, str]] = []
        for where, names in (
            ("features.numeric", self.features.numeric),
            ("features.categorical", self.features.categorical),
        ):
            for name in names:
                if (problem := self.source.missing_column(name)) is not None:
                    found.append((f"{where}.{name}", problem))
                elif name in (self.label.column, self.label.time):
                    found.append((f"{where}.{name}", "is the label: a model must not see its own answer"))
        for field in ("column", "time"):
            if (problem := self.source.missing_column(getattr(self.label, field))) is not None:
                found.append((f"label.{field}", problem))
        features = set(self.features.names)
        found += [
            ("drift.exclude", f"{f!r} is not a feature of this spec") for f in self.drift.exclude if f not in features
        ]
        found += [
            (f"drift.thresholds.{f}", "not a feature of this spec") for f in self.drift.thresholds if f not in features
        ]
        if found:
            raise _problems(*found)
        return self

    @property
    def spec_hash(self) -> str:
        """Content digest of the spec as parsed: lineage tag on every model version."""
        blob = json.dumps(self.model_dump(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ---- where specs live ----------------------------------------------------------------------------------------
def added_dirs() -> list[Path]:
    """The folders of `EVERGREEN_SPECS_DIRS`, in order (each adds its specs to the built-in ones)."""
    from evergreen.config import settings

    return [Path(d) for d in settings().specs_dirs]


def _yaml_files(folder: Traversable) -> list[Traversable]:
    return sorted((f for f in folder.iterdir() if f.name.endswith(SPEC_SUFFIX) and f.is_file()), key=lambda f: f.name)


def spec_files() -> dict[str, Traversable]:
    """Every spec the deployment loads, name -> file: the built-in folder, then each added folder (an added
    spec overrides a built-in one of the same name). Directory reads only, no YAML parsed: the DAG files call
    this on every parse."""
    if REPLACED_ENV in os.environ:
        raise SpecError(f"{REPLACED_ENV} is replaced by {SPECS_DIRS_ENV} (folders added to the built-in specs)")
    files: dict[str, Traversable] = {f.name.removesuffix(SPEC_SUFFIX): f for f in _yaml_files(SPECS_DIR)}
    added: dict[str, Traversable] = {}
    for folder in added_dirs():
        if not folder.is_dir():
            raise SpecError(f"{SPECS_DIRS_ENV}: {folder} is not a folder")
        for file in _yaml_files(folder):
            name = file.name.removesuffix(SPEC_SUFFIX)
            if name in added:
                raise SpecError(f"spec {name!r} is in two added folders: {added[name]} and {file} ({SPECS_DIRS_ENV})")
            added[name] = file
    return {**files, **added}


def known_models() -> list[str]:
    return sorted(spec_files())


def load_spec(name: str, path: str | Path | None = None) -> ModelSpec:
    """The spec named `name` among `spec_files()`, or the one in the file `path`. Raises SpecError."""
    if path is not None:
        return parse_spec_file(path)
    files = spec_files()
    if name not in files:
        raise FileNotFoundError(f"no model spec {name!r}; known specs: {sorted(files)}")
    return parse_spec_file(files[name])


def parse_spec_file(file: str | Path | Traversable) -> ModelSpec:
    file = Path(file) if isinstance(file, str) else file
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{file}: cannot read: {e}") from e
    return _parse(str(file), text)


def check_specs() -> dict[str, str | None]:
    """Each spec the deployment loads -> None if it is valid, else its one-line error."""
    out: dict[str, str | None] = {}
    for name, file in sorted(spec_files().items()):
        try:
            parse_spec_file(file)
            out[name] = None
        except SpecError as e:
            out[name] = str(e)
    return out


@lru_cache(maxsize=64)
def _parse(file: str, text: str) -> ModelSpec:
    # Keyed on the file and its content: a hot path (one call per Kafka message) re-reads a few KB, never
    # re-validates; an edited file validates again.
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{file}: {_yaml_problem(e)}") from None
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError(f"{file}: the spec must be a mapping of sections (name, features, label, ...), got {got}")
    problems = []
    stem = Path(file).name.removesuffix(SPEC_SUFFIX)
    if "name" in data and data["name"] != stem:
        problems.append(f"name: {data['name']!r} does not match the file name {Path(file).name}")
    try:
        spec = ModelSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{file}: {'; '.join([*problems, *_pydantic_problems(e)])}") from None
    if problems:
        raise SpecError(f"{file}: {'; '.join(problems)}")
    return spec


# ---- one-line messages -------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(text.split())


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    what = f"{problem} ({context})" if context else problem
    return f"line {mark.line + 1} column {mark.column + 1}: {what}" if mark is not None else what


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problems(e: ValidationError) -> list[str]:
    out: list[str] = []
    for err in e.errors():
        loc = [str(p) for p in err["loc"]]
        ctx = err.get("ctx") or {}
        kind = err["type"]
        if kind == "spec":
            out += [".".join([*loc, f] if f else loc) + f": {p}" for f, p in ctx["problems"]]
            continue
        if kind == "extra_forbidden":
            known = _fields_at(err["loc"][:-1])
            problem = f"unknown key (known: {_listed(known)})" if known else "unknown key"
        elif kind == "missing":
            problem = "required"
        elif kind in _BOUNDS:
            sign, key = _BOUNDS[kind]
            bound = ctx[key]  # a float field's bound reads 0.0: say it as the spec would, 0
            bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
            problem = f"must be {sign} {bound}, got {_shown(err['input'])}"
        elif kind == "too_short":
            problem = "must not be empty"
        else:
            problem = f"{err['msg']}, got {_shown(err['input'])}"
        out.append(f"{'.'.join(loc) or '(spec)'}: {problem}")
    return out


_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the section at `loc` knows (for "unknown key" messages): walk the models along the path."""
    kind: Any = ModelSpec
    for part in loc:
        kind = _section(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            field = kind.model_fields.get(str(part))
            if field is None:
                return []
            kind = field.annotation
        elif typing.get_origin(kind) in (dict, list):
            kind = typing.get_args(kind)[-1]  # a key of a mapping, an index of a list: their values
        else:
            return []
    kind = _section(kind)
    return list(kind.model_fields) if isinstance(kind, type) and issubclass(kind, BaseModel) else []


def _section(kind: Any) -> Any:
    """`X | None` -> X, `Annotated[X, ...]` -> X."""
    while True:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if typing.get_origin(kind) is Annotated or (
            typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1
        ):
            kind = args[0]
        else:
            return kind
