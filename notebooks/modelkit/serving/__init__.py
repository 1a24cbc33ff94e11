"""Serving: the model server (`modelkit serve`, also the cluster runtime), the served model and
its file loading, request validation (request_guard) and the local server helpers."""
