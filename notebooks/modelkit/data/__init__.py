"""Training data for the platform's models: synthetic, Prometheus, hybrid or a file, on one time grid.

    from modelkit.data import load_training_frame
    tf = load_training_frame(spec, settings)   # tf.frame, tf.provenance

The names are imported on first use, so that `modelkit score` reading a file
(data/file_source.py) does not load the synthetic generator and scipy with them.
"""

from importlib import import_module

_HOMES = {"TrainingFrame": ".loader", "load_training_frame": ".loader",
          "fetch_prometheus_data": ".guide", "generate_synthetic_data": ".guide"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], __name__), name)
