"""Users' own metrics files (CSV or Parquet): the one reader, for training (DATA_SOURCE=file) and
for `modelkit score --data-file`.

A file holds a `timestamp` column (ISO 8601 text, no zone meaning UTC, or Unix seconds), one
column per registry metric, for an entity model one column per entity label, and optionally
`is_anomaly` (true/false or 1/0). A file without any of an entity model's label columns (a CSV
exported from one node) is one entity, named after the file (`node-a.csv`: instance=node-a), and
`one_entity` says so in the provenance; its timestamps must then not repeat (repeated times are
several entities' rows without their labels: refused). A file with some of the labels only is
refused. Rows may come in any order and at any spacing: each metric is put on the model's grid
(mean per step; the grid's points are multiples of the step since the epoch, as a Prometheus
range query's are). A step with no sample is a gap, NaN here: the caller
fills it (training: the gap rule of real.py, counted in the provenance; scoring: linearly). A
non-finite value (inf) is a gap too. An entity has grid rows from its first to its last sample.
Every error names the file and, where there is one, the column and the row (1 = first data row).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .grid import TimeGrid, fill_gaps, make_grid

TIMESTAMP_COLUMN = "timestamp"
LABEL_COLUMN = "is_anomaly"
# Parquet is read without Arrow's thread pool: with it, a short process (`modelkit score`, check-params)
# aborted at exit about one time in ten (pyarrow 26 here; "terminate called without an active
# exception", apache/arrow#34314), after its work was done.
READERS = {".csv": pd.read_csv, ".parquet": lambda source: pd.read_parquet(source, use_threads=False)}
_TRUE, _FALSE = {"true", "1", "1.0", "yes"}, {"false", "0", "0.0", "no"}
MAX_UNIX_SECONDS = 32_503_680_000  # 3000-01-01: a larger number is milliseconds or nanoseconds


@dataclass(frozen=True)
class MetricsFile:
    path: Path
    sha256: str
    rows: int  # data rows in the file
    entity: tuple[str, ...]  # entity label columns (empty: cluster-wide)
    values: pd.DataFrame  # index `timestamp` on the grid; entity columns (str) first, then the metrics (float, NaN = gap)
    labels: pd.Series | None  # per grid row: a sample of the step was labelled anomalous; None: no is_anomaly column
    one_entity: str | None = None  # the file had no entity column: what its one entity is called, and why

    def gaps(self) -> dict[str, int]:
        """Grid steps without a sample, per metric."""
        return {name: int(count) for name, count in self.values.drop(columns=list(self.entity)).isna().sum().items()}

    def filled(self) -> pd.DataFrame:
        """The values with gaps inside each entity's series filled linearly (for scoring)."""
        if not self.entity:
            return self.values.interpolate(limit_area="inside")
        metrics = [c for c in self.values.columns if c not in self.entity]
        filled = self.values.copy()
        filled[metrics] = self.values.groupby(list(self.entity), sort=False)[metrics].transform(
            lambda column: column.interpolate(limit_area="inside"))
        return filled

    def describe(self) -> dict[str, Any]:
        """What the provenance records about the file."""
        stamps = self.values.index
        return {"path": str(self.path), "sha256": self.sha256, "rows": self.rows, "grid_rows": len(self.values),
                "start": stamps.min().isoformat(), "end": stamps.max().isoformat(), "gaps": self.gaps(),
                "labelled": self.labels is not None, **({"one_entity": self.one_entity} if self.one_entity else {})}


def read_metrics_table(path: Path | str, metric_names: tuple[str, ...], step_seconds: int,
                       entity: tuple[str, ...] = (), timestamp_column: str = TIMESTAMP_COLUMN) -> MetricsFile:
    """The file's values on the grid of `step_seconds`, gaps left as NaN; see the module docstring."""
    path = Path(path)
    if path.suffix not in READERS:
        raise ConfigError(f"{path}: unknown file type {path.suffix!r}; use .csv or .parquet")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        raw = READERS[path.suffix](io.BytesIO(data))  # the bytes hashed are the bytes read
    except (ValueError, OSError, pd.errors.ParserError) as exc:  # a truncated Parquet, a CSV with a broken quote ...
        raise DataError(f"{path}: cannot be read as {path.suffix[1:]} ({exc})") from None
    one_entity = bool(entity) and not any(name in raw.columns for name in entity)
    missing = [c for c in (timestamp_column, *(() if one_entity else entity), *metric_names) if c not in raw.columns]
    if missing:
        hint = (" (an entity label of the model: a file of one series may leave out every entity column, not some)"
                if set(missing) & set(entity) else "")
        raise DataError(f"{path}: no column {', '.join(map(repr, missing))} (has {', '.join(map(str, raw.columns))}){hint}")
    if raw.empty:
        raise DataError(f"{path}: no data rows")
    times = _times(raw, timestamp_column, path)
    if one_entity:
        _refuse_repeated_times(times, timestamp_column, entity, path)
        columns: dict[str, Any] = {name: np.full(len(raw), path.stem, dtype=object) for name in entity}
    else:
        columns = {name: _entity_values(raw, name, path) for name in entity}
    columns.update({name: _numbers(raw, name, path) for name in metric_names})
    frame = pd.DataFrame(columns, index=pd.DatetimeIndex(times, name="timestamp"))
    labels = _labels(raw, path) if LABEL_COLUMN in raw.columns else None
    if labels is not None:
        frame[LABEL_COLUMN] = labels.astype(float)  # max per step: any labelled sample labels the step
    gridded = _on_grid(frame, metric_names, entity, step_seconds)
    grid_labels = gridded.pop(LABEL_COLUMN).fillna(0).astype(bool) if labels is not None else None
    note = None
    if one_entity:
        named = ", ".join(f"{name}={path.stem}" for name in entity)
        note = f"no {', '.join(map(repr, entity))} column: the file's rows are one entity, {named} (named after the file)"
    return MetricsFile(path, hashlib.sha256(data).hexdigest(), len(raw), tuple(entity), gridded, grid_labels, note)


def read_metrics_file(path: Path | str, metric_names: tuple[str, ...], step_seconds: int,
                      timestamp_column: str = TIMESTAMP_COLUMN, entity: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.Series | None]:
    """(values on a regular UTC grid of `step_seconds`, gaps inside each series filled linearly; labels or None)."""
    table = read_metrics_table(path, metric_names, step_seconds, entity, timestamp_column)
    return table.filled(), table.labels


def _first_row(bad: pd.Series) -> int:
    return int(np.flatnonzero(bad.to_numpy())[0])


def _times(raw: pd.DataFrame, column: str, path: Path) -> pd.DatetimeIndex:
    """Text (ISO 8601; no zone = UTC) or numbers, read as Unix seconds as Prometheus writes them."""
    text = raw[column]
    if pd.api.types.is_numeric_dtype(text) and not pd.api.types.is_bool_dtype(text):
        too_big = text.abs() > MAX_UNIX_SECONDS
        if too_big.any():
            row = _first_row(too_big)
            raise DataError(f"{path}: row {row + 1}, column {column!r}: {text.iloc[row]!r} is not a time in Unix seconds "
                            "(milliseconds? divide by 1000)")
        stamps = pd.to_datetime(text, errors="coerce", utc=True, unit="s")
    else:
        stamps = pd.to_datetime(text.astype(str), errors="coerce", utc=True, format="ISO8601")
    if stamps.isna().any():
        row = _first_row(stamps.isna())
        raise DataError(f"{path}: row {row + 1}, column {column!r}: {text.iloc[row]!r} is not a time")
    return pd.DatetimeIndex(stamps)


def _refuse_repeated_times(times: pd.DatetimeIndex, column: str, entity: tuple[str, ...], path: Path) -> None:
    """A file read as one entity has one row per time: repeated times are several entities' rows
    whose label column is missing, and averaging them would make one series of several nodes."""
    repeated = times.duplicated()
    if repeated.any():
        row = _first_row(pd.Series(repeated))
        first = int(np.flatnonzero(times == times[row])[0])
        raise DataError(f"{path}: row {row + 1}, column {column!r}: {times[row].isoformat()} repeats the time of row {first + 1}; "
                        f"without the model's entity column {', '.join(map(repr, entity))} the file is one series, one row per "
                        "time (several entities' rows need their entity column)")


def _numbers(raw: pd.DataFrame, name: str, path: Path) -> np.ndarray:
    numbers = pd.to_numeric(raw[name], errors="coerce")
    bad = numbers.isna() & raw[name].notna()
    if bad.any():
        row = _first_row(bad)
        raise DataError(f"{path}: row {row + 1}, column {name!r}: {raw[name].iloc[row]!r} is not a number")
    values = numbers.to_numpy(dtype=float)
    values[~np.isfinite(values)] = np.nan  # inf: a gap, as Prometheus' +Inf samples are
    return values


def _entity_values(raw: pd.DataFrame, name: str, path: Path) -> np.ndarray:
    column = raw[name]
    empty = column.isna() | (column.astype(str).str.strip() == "")
    if empty.any():
        row = _first_row(empty)
        raise DataError(f"{path}: row {row + 1}, column {name!r} (an entity label of the model): empty; every row needs its entity")
    return column.astype(str).to_numpy(dtype=object)


def _labels(raw: pd.DataFrame, path: Path) -> np.ndarray:
    column = raw[LABEL_COLUMN]
    if column.dtype == bool:
        return column.to_numpy()
    text = column.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = _first_row(bad)
        raise DataError(f"{path}: row {row + 1}, column {LABEL_COLUMN!r}: {column.iloc[row]!r} is not true/false or 1/0")
    return text.isin(_TRUE).to_numpy()


def _on_grid(frame: pd.DataFrame, metric_names: tuple[str, ...], entity: tuple[str, ...], step_seconds: int) -> pd.DataFrame:
    """Mean per step of each metric, max (any) of the labels; per entity, sorted by entity then time."""
    how = {name: "mean" for name in metric_names}
    if LABEL_COLUMN in frame.columns:
        how[LABEL_COLUMN] = "max"
    rule = f"{step_seconds}s"
    if not entity:
        return frame.sort_index().resample(rule, origin="epoch").agg(how)
    parts = []
    for key, part in frame.groupby(list(entity), sort=True):
        gridded = part.drop(columns=list(entity)).sort_index().resample(rule, origin="epoch").agg(how)
        for position, (name, value) in enumerate(zip(entity, key if isinstance(key, tuple) else (key,))):
            gridded.insert(position, name, value)
        parts.append(gridded)
    return pd.concat(parts)


def training_window(table: MetricsFile, hours: int, step_seconds: int, end: datetime | float | None) -> tuple[TimeGrid, str | None]:
    """The grid of a training run on the file: the last `hours` up to `end` (default: the file's last
    row), clipped to the file's first row; the second value says how it was clipped, or None."""
    first, last = table.values.index.min(), table.values.index.max()
    grid = make_grid(hours, step_seconds, last.to_pydatetime() if end is None else end)
    start = grid.index()[0]
    if start >= first:
        return grid, None
    grid_end = grid.index()[-1]
    if grid_end < first:
        raise DataError(f"{table.path}: its rows ({first.isoformat()} to {last.isoformat()}) all lie after the window's end "
                        f"{grid_end.isoformat()} (DATA_END)")
    points = int((grid_end - first).total_seconds() // step_seconds) + 1
    clipped = TimeGrid(end_seconds=grid.end_seconds, step_seconds=step_seconds, points=points)
    return clipped, (f"the file covers {(points - 1) * step_seconds / 3600:.1f} h of the {hours} h asked for "
                     "(TRAINING_HOURS and warm-up): the window starts at its first row")


def training_values(table: MetricsFile, grid: TimeGrid, provenance: dict[str, Any], *, values: pd.DataFrame | None = None,
                    labels: pd.Series | None = None, entity: str = "") -> tuple[pd.DataFrame, pd.Series | None]:
    """Metric values and labels on a training grid, gaps filled and counted in provenance["gaps_filled"]:
    the cluster-wide file's, or one entity's (`values`, `labels` from entity_series)."""
    times = grid.index()
    if values is None:
        values, labels = table.values, table.labels
    values = values.reindex(times)
    check_coverage(table, values, grid, entity)
    provenance["gaps_filled"] = {name: int(count) for name, count in values.isna().sum().items()}
    values = fill_gaps(values)
    labels = None if labels is None else labels.reindex(times, fill_value=False).astype(bool)
    return values, labels


def entity_series(table: MetricsFile, grid: TimeGrid) -> Iterator[tuple[str, tuple[str, ...], pd.DataFrame, pd.Series | None]]:
    """Per entity, sorted by its labels, with rows inside the window: (key, label values, metric values
    from its first to its last sample there, labels or None). The key joins the label values with '/'."""
    start, end = grid.index()[0], grid.index()[-1]
    inside = (table.values.index >= start) & (table.values.index <= end)
    if not inside.any():
        raise DataError(f"{table.path}: no row inside the window {start.isoformat()} to {end.isoformat()}")
    values = table.values[inside]
    labels = None if table.labels is None else table.labels[inside]
    for label_values, rows in values.groupby(list(table.entity), sort=True).indices.items():
        label_values = label_values if isinstance(label_values, tuple) else (label_values,)
        part = values.iloc[rows].drop(columns=list(table.entity))
        yield "/".join(label_values), label_values, part, None if labels is None else labels.iloc[rows]


def check_coverage(table: MetricsFile, values: pd.DataFrame, grid: TimeGrid, entity: str = "") -> None:
    """Refuse a metric with samples for less than MIN_COVERAGE of the window, as for Prometheus."""
    from .real import MIN_COVERAGE  # training only: real.py pulls in the synthetic generator (scipy), which scoring does not need

    window = grid.describe()
    for name, coverage in values.notna().mean().items():
        if coverage < MIN_COVERAGE:
            whose = f" of entity {entity}" if entity else ""
            raise DataError(f"{table.path}: column {name!r}{whose} has samples for {coverage:.0%} of the window "
                            f"{window['start']} to {window['end']} (need {MIN_COVERAGE:.0%}); gaps are filled only between samples")
