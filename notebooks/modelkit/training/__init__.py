"""Training: the two default models, their workflows, the notebook runner (evaluation: modelkit.evaluation).

Notebooks stay thin: they call `run_context.start_run`, a `*_workflow.train` function,
the plots and `publish.publish_version`; everything they call is unit-tested here.
"""
