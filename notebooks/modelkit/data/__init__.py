"""Training data for the platform's models: synthetic, Prometheus or hybrid, on one time grid.

    from modelkit.data import load_training_frame
    tf = load_training_frame(spec, settings)   # tf.frame, tf.provenance
"""

from .guide import fetch_prometheus_data, generate_synthetic_data
from .loader import TrainingFrame, load_training_frame

__all__ = ["TrainingFrame", "fetch_prometheus_data", "generate_synthetic_data", "load_training_frame"]
