"""The run's pictures as PNG files: PR and ROC curves, feature importance, calibration, confusion matrix.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend switch, no display), so it
is safe in an Airflow worker and in threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

Curves = Mapping[str, tuple[np.ndarray, np.ndarray]]  # split name -> (labels, scores)


def _figure(size: tuple[float, float] = (5.5, 4.5)) -> Figure:
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, folder: Path, name: str) -> str:
    path = folder / f"{name}.png"
    fig.savefig(path)
    return str(path)


def pr_curve(curves: Curves, folder: Path) -> str:
    fig = _figure()
    ax = fig.subplots()
    for split, (y, s) in curves.items():
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(recall, precision, where="post", label=f"{split}: AP {average_precision_score(y, s):.3f}")
        ax.axhline(y.mean(), linestyle=":", linewidth=0.8, color=ax.lines[-1].get_color())
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (dotted: base rate)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="upper right")
    return _save(fig, folder, "pr_curve")


def roc(curves: Curves, folder: Path, fpr: float | None = None) -> str:
    fig = _figure()
    ax = fig.subplots()
    for split, (y, s) in curves.items():
        fprs, tprs, _ = roc_curve(y, s)
        ax.plot(fprs, tprs, label=f"{split}: AUC {roc_auc_score(y, s):.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    if fpr is not None:
        ax.axvline(fpr, linestyle="--", linewidth=0.8, color="grey", label=f"FPR {fpr:g}")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate (recall)", title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return _save(fig, folder, "roc_curve")


def feature_importance(importance: Mapping[str, float], folder: Path, top: int = 25) -> str:
    items = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    fig = _figure((6.5, max(3.0, 0.28 * len(items) + 1.2)))
    ax = fig.subplots()
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="total gain", title="Feature importance (gain)")
    return _save(fig, folder, "feature_importance")


def calibration(y: np.ndarray, scores: np.ndarray, folder: Path, bins: int = 10) -> str:
    fig = _figure()
    ax = fig.subplots()
    frac_pos, mean_pred = calibration_curve(y, scores, n_bins=bins, strategy="quantile")
    top = max(float(mean_pred.max(initial=0)), float(frac_pos.max(initial=0)), 1e-3) * 1.05
    ax.plot([0, top], [0, top], linestyle=":", color="grey", label="perfect")
    ax.plot(mean_pred, frac_pos, marker="o", label="model (quantile bins)")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", title="Calibration (holdout)")
    ax.legend(loc="upper left")
    return _save(fig, folder, "calibration")


def confusion(y: np.ndarray, scores: np.ndarray, threshold: float, folder: Path) -> str:
    flagged = scores >= threshold
    matrix = np.array(
        [[int((~flagged & (y == 0)).sum()), int((flagged & (y == 0)).sum())],
         [int((~flagged & (y == 1)).sum()), int((flagged & (y == 1)).sum())]]
    )  # fmt: skip
    fig = _figure((4.8, 4.2))
    ax = fig.subplots()
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, f"{n:,}", ha="center", va="center", color="black")
    ax.set(
        xticks=[0, 1], yticks=[0, 1], xticklabels=["pass", "flag"], yticklabels=["legit", "fraud"],
        xlabel="decision", ylabel="label", title=f"Confusion at threshold {threshold:.4g} (holdout)",
    )  # fmt: skip
    return _save(fig, folder, "confusion_matrix")


def all_plots(
    folder: str | Path,
    curves: Curves,
    holdout: tuple[np.ndarray, np.ndarray],
    importance: Mapping[str, float],
    threshold: float,
    fpr: float | None = None,
) -> dict[str, str]:
    """Draw every plot into `folder`; name -> PNG path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    y, s = holdout
    return {
        "pr_curve": pr_curve(curves, out),
        "roc_curve": roc(curves, out, fpr),
        "feature_importance": feature_importance(importance, out),
        "calibration": calibration(y, s, out),
        "confusion_matrix": confusion(y, s, threshold, out),
    }
