"""Model lifecycle: the quality gate, promotion/rollback of the served file, the cluster rollout,
the local pipeline runner, the smoke test, the run report and the demo (see docs/ARCHITECTURE.md)."""
