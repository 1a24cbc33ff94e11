"""Training: features, the two default models, their evaluation, the notebook runner.

Notebooks stay thin: they call `run_context.start_run`, a `*_workflow.train` function,
the plots and `publish.publish_version`; everything they call is unit-tested here.
"""
