"""Model specs are strict: what used to be accepted silently (a misspelled key, a metric nobody computes, a
column the table does not have, a nonsense number) is refused with one line, `<file>: <field.path>: <problem>`.
Spec folders add to the built-in one; `evergreen specs check` validates what a deployment would load."""

from __future__ import annotations

import copy
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evergreen import config
from evergreen.contracts import data_contract
from evergreen.contracts.model_spec import (
    KNOWN_METRICS,
    SPECS_DIR,
    SpecError,
    check_specs,
    known_models,
    load_spec,
    parse_spec_file,
    spec_files,
)

SHIPPED = yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text())


@pytest.fixture
def specs_dirs(monkeypatch):
    """Point EVERGREEN_SPECS_DIRS at folders for one test; settings are cached, so reloaded in and out."""

    def use(*folders: Path | str) -> None:
        monkeypatch.setenv("EVERGREEN_SPECS_DIRS", os.pathsep.join(str(f) for f in folders))
        config.reload()

    monkeypatch.delenv("EVERGREEN_SPECS_DIR", raising=False)
    monkeypatch.delenv("EVERGREEN_SPECS_DIRS", raising=False)
    config.reload()
    yield use
    monkeypatch.undo()
    config.reload()


def write_spec(folder: Path, name: str, change=None, *, spec_name: str | None = None) -> Path:
    """The shipped fraud spec as `<folder>/<name>.yaml` (its `name:` set to match), changed by `change`."""
    spec = copy.deepcopy(SHIPPED)
    spec["name"] = spec_name or name
    if change:
        change(spec)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{name}.yaml"
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    return file


def refused(file: Path) -> str:
    with pytest.raises(SpecError) as e:
        parse_spec_file(file)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: "), message
    return message


# ---- each silently-accepted case, refused with file and field ----------------------------------------------
def test_a_misspelled_section_is_refused(tmp_path):
    def change(s):
        s["retrainig"] = s.pop("retraining")

    message = refused(write_spec(tmp_path, "fraud_lite", change))
    assert f"{tmp_path / 'fraud_lite.yaml'}: retrainig: unknown key (known: name, " in message
    assert "retraining" in message


def test_an_unknown_key_in_a_section_is_refused_listing_the_known_ones(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["source"].update(filter="channel = 'pos'"))
    assert refused(file) == f"{file}: source.filter: unknown key (known: layer, table, key, time, where)"


def test_an_unknown_primary_metric_is_refused(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["metric"].update(primary="f1"))
    message = refused(file)
    assert message.startswith(f"{file}: metric.primary: unknown metric 'f1' (known: pr_auc, ")


def test_an_unknown_guard_is_refused(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["metric"]["guards"].update(latency_p99={"tolerance": 1}))
    assert refused(file).startswith(f"{file}: metric.guards.latency_p99: unknown metric (known: pr_auc, ")


def test_a_negative_validation_window_is_refused(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["split"].update(validation_days=-2))
    assert refused(file) == f"{file}: split.validation_days: must be >= 1, got -2"


def test_the_name_must_match_the_file_name(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", spec_name="fraud")
    assert refused(file) == f"{file}: name: 'fraud' does not match the file name fraud_lite.yaml"


def test_a_feature_outside_the_source_tables_contract_is_refused(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["features"]["numeric"].append("velocity_1h"))
    message = refused(file)
    assert message.startswith(f"{file}: features.numeric.velocity_1h: 'velocity_1h' is not a column of gold/features")


def test_a_yaml_syntax_error_names_the_file_and_the_line(tmp_path):
    file = tmp_path / "fraud_lite.yaml"
    lines = (SPECS_DIR / "fraud.yaml").read_text().splitlines()
    at = lines.index("split:") + 1
    lines.insert(at, "  train_days: [21")
    file.write_text("\n".join(lines) + "\n")
    message = refused(file)
    assert "<unicode string>" not in message
    assert message.startswith(f"{file}: line {at + 2} column "), message


def test_a_file_that_is_not_a_mapping_is_one_line(tmp_path):
    file = tmp_path / "fraud_lite.yaml"
    file.write_text("- fraud\n- lite\n")
    assert "must be a mapping" in refused(file)
    file.write_text("")
    assert "an empty file" in refused(file)


def test_a_row_selection_on_an_unknown_column_is_refused(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["source"].update(where={"chanel": ["pos"]}))
    assert refused(file).startswith(f"{file}: source.where.chanel: 'chanel' is not a column of gold/features")


def test_a_row_selection_outside_the_contracts_values_is_refused(tmp_path):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["source"].update(where={"channel": ["pos", "atm"]}))
    message = refused(file)
    assert message.startswith(f"{file}: source.where.channel: 'atm' not in the contract's values (known: web, app, pos")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"channel": []}, "source.where.channel: must not be empty"),
        ({"hour": ["noon"]}, "source.where.hour: 'noon' not of the column's type int"),
        ({"amount": [10]}, "source.where.amount: selecting rows on a double column is not supported"),
        ({"country": [1.5]}, "source.where.country: 1.5 is not a string, integer or boolean"),
    ],
)
def test_a_row_selection_is_checked_against_the_column(tmp_path, where, expected):
    file = write_spec(tmp_path, "fraud_lite", lambda s: s["source"].update(where=where))
    assert refused(file).startswith(f"{file}: {expected}")


def test_a_valid_row_selection_is_kept(tmp_path):
    where = {"channel": ["pos"], "country": ["DE", "unknown"], "hour": [0, 1, 2]}
    spec = parse_spec_file(write_spec(tmp_path, "fraud_pos", lambda s: s["source"].update(where=where)))
    assert spec.source.where == where


def test_the_where_vocabularies_are_the_contracts_lists_and_the_pipelines_fill():
    from evergreen.pipeline.transforms import clean

    assert clean.UNKNOWN == data_contract.UNKNOWN
    assert set(clean.FILLED) <= set(data_contract.GOLD_VOCABULARIES)
    for name, values in data_contract.GOLD_VOCABULARIES.items():
        assert name in data_contract.names(data_contract.GOLD_COLUMNS)
        assert len(set(values)) == len(values), name
    # Every categorical vocabulary of the shipped spec is inside what gold can hold.
    for feature, vocabulary in load_spec("fraud").features.categorical.items():
        assert set(vocabulary) <= set(data_contract.GOLD_VOCABULARIES[feature]), feature


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s["source"].update(layer="silver"), "source.layer: unknown layer 'silver' (known: gold)"),
        (lambda s: s["source"].update(table="transactions"), "source.table: unknown gold table 'transactions'"),
        (lambda s: s["source"].update(key="txn_id"), "source.key: 'txn_id' is not a column of gold/features"),
        (lambda s: s["source"].update(time="ts"), "source.time: 'ts' is not a column of gold/features"),
        (lambda s: s["label"].update(column="fraud"), "label.column: 'fraud' is not a column of gold/features"),
        (lambda s: s["label"].update(time="labelled_at"), "label.time: 'labelled_at' is not a column"),
        (lambda s: s["label"].update(max_delay_days=-1), "label.max_delay_days: must be >= 0, got -1"),
        (lambda s: s["label"].update(mature_after_days=-1), "label.mature_after_days: must be >= 0, got -1"),
        (lambda s: s["features"]["numeric"].append("is_fraud"), "features.numeric.is_fraud: is the label"),
        (lambda s: s["features"]["numeric"].append("amount"), "features: 'amount' listed more than once"),
        (lambda s: s["features"]["categorical"].update(channel=[]), "features.categorical.channel: must not be empty"),
        (lambda s: s["features"]["categorical"].update(channel="web"), "features.categorical.channel: "),
        (lambda s: s["split"].update(train_days=2), "split.train_days: must be >= 3, got 2"),
        (lambda s: s["split"].update(holdout_days=0), "split.holdout_days: must be >= 1, got 0"),
        (lambda s: s["policy"].update(min_pr_auc=1.5), "policy.min_pr_auc: must be <= 1, got 1.5"),
        (lambda s: s["policy"].update(min_gain=-0.1), "policy.min_gain: must be >= 0, got -0.1"),
        (lambda s: s["training"].update(early_stopping_rounds=0), "training.early_stopping_rounds: must be >= 1"),
        (lambda s: s["training"]["search"].update(budget=-1), "training.search.budget: must be >= 0, got -1"),
        (
            lambda s: s["training"]["search"]["space"].update(max_depth=[8, 4]),
            "training.search.space.max_depth: must be a [low, high] pair with low <= high",
        ),
        (
            lambda s: s["training"]["search"]["space"].update(max_depth=[4]),
            "training.search.space.max_depth: must be a [low, high] pair",
        ),
        (lambda s: s["retraining"].update(cooldown_hours=-1), "retraining.cooldown_hours: must be >= 0, got -1"),
        (lambda s: s["retraining"].update(drift_window_days=2), "retraining.drift_window_days: must be >= 3, got 2"),
        (lambda s: s["drift"].update(measure="ks"), "drift.measure: unknown measure 'ks' (implemented: hellinger)"),
        (lambda s: s["drift"].update(bins=1), "drift.bins: must be >= 2, got 1"),
        (lambda s: s["drift"].update(default_threshold=0), "drift.default_threshold: must be > 0"),
        (lambda s: s["drift"].update(thresholds={"amount": 0}), "drift.thresholds.amount: must be > 0"),
        (lambda s: s["drift"].update(prediction_threshold=-1), "drift.prediction_threshold: must be > 0"),
        (lambda s: s["drift"].update(exclude=["velocity"]), "drift.exclude: 'velocity' is not a feature of this spec"),
        (lambda s: s["drift"].update(thresholds={"hourz": 0.2}), "drift.thresholds.hourz: not a feature of this spec"),
        (lambda s: s["drift"].update(k=4, n=3), "drift.k: drift rule needs 1 <= k <= n, got k=4, n=3"),
        (lambda s: s["drift"]["performance"].update(alert_share=1), "drift.performance.alert_share: must be < 1"),
        (lambda s: s["drift"]["performance"].update(alert_share=0), "drift.performance.alert_share: must be > 0"),
        (lambda s: s["drift"]["performance"].update(tolerance=0), "drift.performance.tolerance: must be > 0"),
        (lambda s: s["drift"]["performance"].update(tolerance=1.5), "drift.performance.tolerance: must be <= 1"),
        (lambda s: s["drift"]["performance"].update(lookback_days=0), "drift.performance.lookback_days: must be >= 1"),
        (lambda s: s["drift"]["performance"].update(min_positives=0), "drift.performance.min_positives: must be >= 1"),
        (
            lambda s: s["metric"]["guards"]["roc_auc"].update(tolerance=-0.1),
            "metric.guards.roc_auc.tolerance: must be >=",
        ),
        (
            lambda s: s["metric"]["guards"]["score_ms_per_10k"].update(tolerance_ratio=0.5),
            "metric.guards.score_ms_per_10k.tolerance_ratio: must be >= 1",
        ),
        (
            lambda s: s["metric"]["guards"]["recall_at_fpr"].update(fpr=1),
            "metric.guards.recall_at_fpr.fpr: must be < 1",
        ),
        (lambda s: s["metric"]["guards"]["roc_auc"].update(tol=1), "metric.guards.roc_auc.tol: unknown key (known: "),
        (lambda s: s.pop("label"), "label: required"),
    ],
)
def test_each_check_names_its_field(tmp_path, change, expected):
    file = write_spec(tmp_path, "fraud_lite", change)
    message = refused(file)
    assert expected in message, message


def test_several_problems_share_one_line(tmp_path):
    def change(s):
        s["split"]["validation_days"] = -2
        s["source"]["filter"] = "x"

    message = refused(write_spec(tmp_path, "fraud_lite", change, spec_name="fraud"))
    assert message.count("; ") == 2
    for part in ("name: 'fraud' does not match", "source.filter: unknown key", "split.validation_days: must be >= 1"):
        assert part in message


def test_the_parse_cache_is_keyed_on_the_file_too(tmp_path):
    """The same text is valid as fraud.yaml and not as fraud_lite.yaml: a cache on the text alone would say both."""
    text = (SPECS_DIR / "fraud.yaml").read_text()
    (tmp_path / "fraud.yaml").write_text(text)
    (tmp_path / "fraud_lite.yaml").write_text(text)
    assert parse_spec_file(tmp_path / "fraud.yaml").name == "fraud"
    assert "does not match the file name" in refused(tmp_path / "fraud_lite.yaml")


# ---- what must keep validating ----------------------------------------------------------------------------
def test_the_shipped_the_demo_and_the_replay_specs_validate(tmp_path):
    from evergreen.devtools.demo import demo_specs

    assert parse_spec_file(SPECS_DIR / "fraud.yaml").name == "fraud"
    demo = demo_specs(tmp_path) / "fraud.yaml"
    assert parse_spec_file(demo).drift.exclude
    # tests/e2e/test_replay.py's tweaks of the demo's copy.
    spec = yaml.safe_load(demo.read_text())
    spec["policy"]["min_pr_auc"] = 0.0
    spec["drift"]["performance"]["min_positives"] = 1_000_000
    names = [*spec["features"]["numeric"], *spec["features"]["categorical"]]
    spec["drift"]["exclude"] = sorted(set(names) - {"amount", "log_amount"})
    spec["drift"]["prediction_threshold"] = 1.01  # above Hellinger's maximum: switches the check off
    demo.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert parse_spec_file(demo).drift.prediction_threshold == 1.01


def test_load_spec_has_no_default_model():
    assert inspect.signature(load_spec).parameters["name"].default is inspect.Parameter.empty


# ---- the metric names are the ones training produces -----------------------------------------------------
def test_known_metrics_are_exactly_what_training_produces():
    from evergreen.training.metrics import at_threshold, evaluate, score_card

    y = np.array([0, 0, 1, 0, 1, 0, 0, 1], dtype=np.int8)
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.6, 0.05, 0.4, 0.7])
    direct = {**score_card(y, scores, 0.1), **at_threshold(y, scores, 0.5)}

    class Scorer:
        threshold = 0.5

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return scores

    spec = load_spec("fraud")
    frame = pd.DataFrame({spec.label.column: y})
    evaluated = evaluate(Scorer(), frame, spec)
    assert set(evaluated) == set(KNOWN_METRICS)
    assert set(direct) == set(KNOWN_METRICS) - {"score_ms_per_10k"}
    assert len(set(KNOWN_METRICS)) == len(KNOWN_METRICS)


# ---- spec folders add to the built-in one ----------------------------------------------------------------
def test_no_added_folder_loads_the_built_in_specs(specs_dirs):
    specs_dirs()
    assert known_models() == ["dispute", "fraud"]
    assert Path(str(spec_files()["fraud"])) == Path(str(SPECS_DIR / "fraud.yaml"))
    assert Path(str(spec_files()["dispute"])) == Path(str(SPECS_DIR / "dispute.yaml"))


def test_an_added_folder_adds_its_specs(tmp_path, specs_dirs):
    lite = write_spec(tmp_path / "team", "fraud_lite", lambda s: s["source"].update(where={"channel": ["pos"]}))
    specs_dirs(tmp_path / "team")
    assert known_models() == ["dispute", "fraud", "fraud_lite"]
    assert load_spec("fraud_lite").source.where == {"channel": ["pos"]}
    assert load_spec("fraud") == parse_spec_file(SPECS_DIR / "fraud.yaml")
    assert spec_files()["fraud_lite"] == lite
    assert check_specs() == {"dispute": None, "fraud": None, "fraud_lite": None}


def test_an_added_spec_overrides_the_built_in_one_of_its_name(tmp_path, specs_dirs):
    tuned = write_spec(tmp_path / "deploy", "fraud", lambda s: s.update(description="the deployment's tuned copy"))
    specs_dirs(tmp_path / "deploy")
    assert known_models() == ["dispute", "fraud"]
    assert spec_files()["fraud"] == tuned
    assert load_spec("fraud").description == "the deployment's tuned copy"


def test_one_name_in_two_added_folders_is_an_error_naming_both(tmp_path, specs_dirs):
    first = write_spec(tmp_path / "a", "fraud_lite")
    second = write_spec(tmp_path / "b", "fraud_lite")
    specs_dirs(tmp_path / "a", tmp_path / "b")
    with pytest.raises(SpecError) as e:
        spec_files()
    assert str(first) in str(e.value)
    assert str(second) in str(e.value)
    assert "\n" not in str(e.value)


def test_an_added_folder_that_does_not_exist_is_an_error(tmp_path, specs_dirs):
    specs_dirs(tmp_path / "missing")
    with pytest.raises(SpecError, match=r"EVERGREEN_SPECS_DIRS: .*missing is not a folder"):
        known_models()


def test_the_folders_are_split_like_path(tmp_path, specs_dirs):
    specs_dirs(tmp_path / "a", "", tmp_path / "b")
    assert config.settings().specs_dirs == [str(tmp_path / "a"), str(tmp_path / "b")]
    specs_dirs()
    assert config.settings().specs_dirs == []


def test_the_replaced_setting_is_refused_loudly(tmp_path, specs_dirs, monkeypatch):
    monkeypatch.setenv("EVERGREEN_SPECS_DIR", str(tmp_path))
    with pytest.raises(SpecError) as e:
        spec_files()
    assert str(e.value) == (
        "EVERGREEN_SPECS_DIR is replaced by EVERGREEN_SPECS_DIRS (folders added to the built-in specs)"
    )


def test_a_bad_spec_in_an_added_folder_shows_in_check_specs(tmp_path, specs_dirs):
    bad = write_spec(tmp_path, "fraud_lite", lambda s: s["split"].update(validation_days=-2))
    specs_dirs(tmp_path)
    assert check_specs() == {
        "dispute": None,
        "fraud": None,
        "fraud_lite": f"{bad}: split.validation_days: must be >= 1, got -2",
    }
    with pytest.raises(SpecError, match=r"split\.validation_days"):
        load_spec("fraud_lite")


# ---- evergreen specs check ------------------------------------------------------------------------------
def run_check(*args: str, specs_dirs: str = "", **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("EVERGREEN_SPECS_DIR", "EVERGREEN_SPECS_DIRS")}
    environ |= {"EVERGREEN_SPECS_DIRS": specs_dirs, **env}
    return subprocess.run(
        [sys.executable, "-m", "evergreen.cli", "specs", "check", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_specs_check_passes_on_the_deployments_specs(tmp_path):
    write_spec(tmp_path, "fraud_lite")
    out = run_check(specs_dirs=str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"ok  dispute  {SPECS_DIR / 'dispute.yaml'}",
        f"ok  fraud  {SPECS_DIR / 'fraud.yaml'}",
        f"ok  fraud_lite  {tmp_path / 'fraud_lite.yaml'}",
    ]


def test_specs_check_fails_on_a_bad_spec_with_its_line(tmp_path):
    bad = write_spec(tmp_path, "fraud_lite", lambda s: s["metric"].update(primary="f1"))
    out = run_check(specs_dirs=str(tmp_path))
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ok  dispute  ")
    assert lines[1].startswith("ok  fraud  ")
    assert lines[2].startswith(f"{bad}: metric.primary: unknown metric 'f1'")


def test_specs_check_validates_the_files_it_is_given(tmp_path):
    good = write_spec(tmp_path, "fraud_lite")
    bad = write_spec(tmp_path, "fraud_pos", lambda s: s["source"].update(where={"channel": ["atm"]}))
    assert run_check(str(good)).returncode == 0
    out = run_check(str(good), str(bad))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == f"ok  fraud_lite  {good}"
    assert out.stdout.splitlines()[1].startswith(f"{bad}: source.where.channel: 'atm' not in the contract's values")


def test_specs_check_refuses_the_replaced_setting(tmp_path):
    out = run_check(EVERGREEN_SPECS_DIR=str(tmp_path))
    assert out.returncode == 1
    assert "EVERGREEN_SPECS_DIR is replaced by EVERGREEN_SPECS_DIRS" in out.stdout
