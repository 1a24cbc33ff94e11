"""modelkit: load data, train, validate, promote and serve the platform models."""
