"""A PNG of a training frame: one panel per metric, labelled anomaly points in red,
rows not taken from Prometheus shaded."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)
import pandas as pd  # noqa: E402

from .loader import TrainingFrame  # noqa: E402


def _runs(mask) -> list[tuple[int, int]]:
    """(start, stop) of each run of True values."""
    runs, start = [], None
    for position, flag in enumerate(mask):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            runs.append((start, position))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs


MAX_PLOTTED_ENTITIES = 8


def _first_entities(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """The rows of the frame's first MAX_PLOTTED_ENTITIES entities (all rows of a cluster-wide frame)."""
    if not labels:
        return frame
    entities = pd.MultiIndex.from_frame(frame[labels])
    return frame[entities.isin(entities.unique()[:MAX_PLOTTED_ENTITIES])]


def plot_frame(loaded: TrainingFrame, path: Path) -> Path:
    """Each metric over time, labelled anomalies red; a per-entity frame: one line per entity, the
    first MAX_PLOTTED_ENTITIES of them (the JSON provenance lists them all)."""
    labels = loaded.provenance.get("entities", {}).get("labels", [])
    frame = _first_entities(loaded.frame, labels)
    metrics = [column for column in loaded.features.columns if column not in labels]
    figure, axes = plt.subplots(len(metrics), 1, figsize=(14, 2.2 * len(metrics)), sharex=True, squeeze=False)
    anomalous = frame["is_anomaly"].to_numpy()
    spliced = ((loaded.row_source == "synthetic").to_numpy() & ~anomalous) if loaded.provenance["real_data"] and not labels else None
    for axis, name in zip(axes[:, 0], metrics):
        if labels:
            for key, rows in frame.groupby(labels, sort=False):
                axis.plot(rows.index, rows[name], linewidth=0.6, label="/".join(map(str, key)))
        else:
            axis.plot(frame.index, frame[name], linewidth=0.6, color="tab:blue")
        axis.scatter(frame.index[anomalous], frame.loc[anomalous, name], s=3, color="tab:red", label="labelled anomaly")
        if spliced is not None:
            for start, stop in _runs(spliced):
                axis.axvspan(frame.index[start], frame.index[stop - 1], color="grey", alpha=0.15, linewidth=0)
        axis.set_ylabel(name, fontsize=8)
    provenance = loaded.provenance
    axes[0, 0].set_title(
        f"{provenance['model']}: {', '.join(provenance['used_sources'])} data, {provenance['window']['rows']} rows, "
        f"{provenance['injected_anomalies']['events']} anomaly events (red)" + (", synthetic blocks shaded" if spliced is not None else "")
    )
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=4 if labels else 1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
