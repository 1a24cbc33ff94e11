"""Model lifecycle: the quality gate, promotion/rollback of the served file, serving,
the local pipeline runner, the smoke test and the demo (see docs/ARCHITECTURE.md)."""
