"""`modelkit data`: load a model's training frame, write it (CSV or Parquet), print its provenance."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ConfigError
from ..registry import get_model
from ..settings import DATA_SOURCES, Settings, options_from
from .loader import load_training_frame

WRITERS = {".csv": lambda frame, path: frame.to_csv(path), ".parquet": lambda frame, path: frame.to_parquet(path)}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="load a model's training data and write it to a file",
        description="Load the training frame a notebook would get (same settings, same environment variables) "
        "and print its provenance. Options override the environment.",
    )
    parser.add_argument("--model", help="model name from the registry (default: $MODEL_NAME)")
    parser.add_argument("--source", choices=DATA_SOURCES, help="data source (default: $DATA_SOURCE, else the registry entry's)")
    parser.add_argument("--data-file", type=Path, help="for --source file: CSV or Parquet of the model's metrics (default: $DATA_FILE)")
    parser.add_argument("--hours", type=int, help="hours of history (default: $TRAINING_HOURS, else the registry entry's)")
    parser.add_argument("--seed", type=int, help="seed of synthetic data and injected anomalies (default: $SEED or 42)")
    parser.add_argument("--entities", type=int, help="per-entity models: entities synthetic data generates "
                        "(default: $SYNTHETIC_ENTITIES, else the registry entry's syntheticEntities)")
    parser.add_argument("--output", type=Path, help="write the frame here: .csv or .parquet")
    parser.add_argument("--plot", type=Path, help="also draw the frame with its anomalies marked into this PNG")
    parser.set_defaults(handler=run)


def _progress(done: int, total: int) -> None:
    if total > 1:
        end = "\n" if done == total else ""
        print(f"\rprometheus: {done}/{total} range requests", end=end, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.output and args.output.suffix not in WRITERS:
        raise ConfigError(f"--output {args.output}: unknown file type {args.output.suffix!r}; use .csv or .parquet")
    if args.plot and args.plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot {args.plot}: must be a .png file")
    settings = Settings.from_env(options=options_from(args, model="MODEL_NAME", source="DATA_SOURCE", data_file="DATA_FILE",
                                                      hours="TRAINING_HOURS", seed="SEED",
                                                      entities="SYNTHETIC_ENTITIES"))
    loaded = load_training_frame(get_model(settings.model_name), settings, progress=_progress)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        WRITERS[args.output.suffix](loaded.frame, args.output)
        loaded.provenance["output"] = str(args.output)
    if args.plot:
        from .plot import plot_frame  # matplotlib only when asked for

        args.plot.parent.mkdir(parents=True, exist_ok=True)
        loaded.provenance["plot"] = str(plot_frame(loaded, args.plot))
    print(json.dumps(loaded.provenance, indent=2))
    if "entities" in loaded.provenance:
        print(entity_summary(loaded.provenance), file=sys.stderr)
    return 0


def entity_summary(provenance: dict) -> str:
    """One line on the entities of a panel frame: how many, their rows, who was left out."""
    entities = provenance["entities"]
    rows = [e["rows"] for e in entities["per_entity"].values()]
    text = f"entities: {entities['count']} by {', '.join(entities['labels'])}"
    if rows:
        text += f", {min(rows)} to {max(rows)} rows each ({sum(rows)} rows)"
    short = [key for key, e in entities["per_entity"].items() if e["rows"] < provenance["window"]["rows"]]
    if short:
        text += f"; {len(short)} with part of the window (added or drained): {', '.join(short[:10])}" + (" ..." if len(short) > 10 else "")
    dropped = provenance.get("entities_dropped", {})
    if dropped:
        text += f"; {len(dropped)} left out (a metric missing, see entities_dropped): {', '.join(list(dropped)[:10])}"
    return text
