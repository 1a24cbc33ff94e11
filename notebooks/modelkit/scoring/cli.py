"""`modelkit watch`: score the served models every interval and export the metrics."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from ..data.grid import make_grid
from ..data.panel import synthetic_entities
from ..data.prometheus import PrometheusClient
from ..data.synthetic import synthetic_values
from ..entities import is_entity_model
from ..errors import ConfigError
from ..registry import ModelSpec, load_registry
from ..settings import DEFAULT_NAMESPACE, Settings, models_root_from_env
from .http_server import start_server
from .predictors import RemotePredictor
from .scorer import Scorer, ScorerConfig, WindowSource
from .window import fetch_window

DEFAULT_PORT = 9100
DEFAULT_INTERVAL = 60.0
SYNTHETIC_SEED = 42


def prometheus_source(settings: Settings) -> WindowSource:
    client = PrometheusClient.from_settings(settings)
    return lambda spec, seconds, step, end: fetch_window(client, spec, seconds, step, end)


def synthetic_source(spec: ModelSpec, seconds: int, step: int, end: float) -> pd.DataFrame:
    """The registry's synthetic generator on the window: for `make demo`, which has no Prometheus.
    A per-entity model gets its `syntheticEntities` entities as a panel (entity columns first)."""
    grid = make_grid(hours=seconds / 3600, step_seconds=step, end=end)
    if not is_entity_model(spec):
        return synthetic_values(spec, grid, SYNTHETIC_SEED)
    return pd.concat([entity.values.assign(**dict(zip(spec.entity, entity.labels)))[[*spec.entity, *spec.metric_names]]
                      for entity in synthetic_entities(spec, grid, SYNTHETIC_SEED, spec.synthetic_entities)])


def synthetic_cycle_text(root: Path) -> str:
    """The metrics text of one cycle on a synthetic window (what `make demo` shows)."""
    scorer = Scorer(list(load_registry().values()), ScorerConfig(models_root=Path(root)), synthetic_source)
    scorer.metrics.set_input_source("synthetic")
    scorer.cycle()
    return scorer.metrics.text()


def default_host() -> str:
    """In a pod Prometheus scrapes the pod IP; on a laptop stay on loopback."""
    from ..settings import in_cluster

    return "0.0.0.0" if in_cluster() else "127.0.0.1"


def build_scorer(args: argparse.Namespace) -> Scorer:
    if args.interval <= 0:
        raise ConfigError(f"--interval {args.interval}: must be a positive number of seconds")
    # The Prometheus settings are the training run's (PROMETHEUS_URL, _TOKEN[_FILE], _CA_BUNDLE, _STEP_SECONDS ...);
    # the scorer is no single model's run, so MODEL_NAME is only a placeholder here.
    settings = Settings.from_env(options={"MODEL_NAME": ("modelkit watch", "modelkit-watch")})
    if args.synthetic:
        source = synthetic_source
    elif settings.prometheus_url:
        source = prometheus_source(settings)
    else:
        raise ConfigError("PROMETHEUS_URL is not set: modelkit watch scores the latest Prometheus window "
                          "(or pass --synthetic for a labelled synthetic window, as `make demo` does)")
    root = Path(args.models_root) if args.models_root else models_root_from_env()
    remote = RemotePredictor(args.predict_url_template, args.namespace or settings.namespace) if args.predict_url_template else None
    config = ScorerConfig(models_root=root, interval_seconds=args.interval, step_seconds=settings.prometheus_step_seconds,
                          drift_threshold=args.drift_threshold)
    # DATA_END pins the scored window's end as it pins a training window's (replays, tests); default now.
    clock = (lambda: settings.data_end.timestamp()) if settings.data_end else time.time
    scorer = Scorer(list(load_registry().values()), config, source, remote=remote, clock=clock)
    scorer.metrics.set_input_source("synthetic" if args.synthetic else "prometheus")
    return scorer


def cmd_watch(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    scorer = build_scorer(args)
    if args.once:
        scorer.cycle()
        sys.stdout.write(scorer.metrics.text())
        return 0
    server = start_server(args.host or default_host(), args.port, scorer.metrics.text, lambda: scorer.ready)
    logging.getLogger("modelkit.scoring").info("scoring %d models every %s s; metrics on http://%s:%d/metrics",
                                               len(scorer.specs), args.interval, *server.server_address[:2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        scorer.run_forever(stop)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("watch", help="score the served models on the live Prometheus window every interval; export metrics")
    p.add_argument("--models-root", help="the models volume (default: $MODELS_ROOT, else /mnt/models or ./models)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"metrics port (default {DEFAULT_PORT})")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 inside a pod)")
    p.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help=f"seconds between cycles (default {DEFAULT_INTERVAL:.0f})")
    p.add_argument("--once", action="store_true", help="score one cycle, print the metrics text, exit")
    p.add_argument("--predict-url-template",
                   help="ask the InferenceServices instead of scoring in-process, e.g. "
                        "http://{model}-predictor.{namespace}.svc.cluster.local:8080/v1/models/{model}:predict")
    p.add_argument("--namespace", help=f"for {{namespace}} in the template (default: $NAMESPACE, the pod's, else {DEFAULT_NAMESPACE})")
    p.add_argument("--drift-threshold", type=float, default=0.25, help="PSI above which a feature counts as drifted (default 0.25)")
    p.add_argument("--synthetic", action="store_true",
                   help="score a synthetic window from the registry's generator instead of Prometheus "
                        "(modelkit_scoring_input_source{source=\"synthetic\"} says so); for the demo")
    p.set_defaults(handler=cmd_watch)
