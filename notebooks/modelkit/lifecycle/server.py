"""`modelkit serve`: the KServe Python model server for promoted models.

Locally it serves every promoted model under the models root on 127.0.0.1 (KServe's
own ModelServer binds 0.0.0.0, so the app is built with RESTServer.create_application
and run by uvicorn on the address asked for). In the cluster, the `modelkit`
ServingRuntime runs `modelkit serve --model-name N --model-dir /mnt/models --host
0.0.0.0 --port 8080`. `POST /v2/repository/models/<name>/load` reloads a model from
disk (promote and rollback call it); unload is refused, so nobody can take a model away.
"""

from __future__ import annotations

import signal
from pathlib import Path

from .. import artifacts
from ..errors import ConfigError
from .local_server import announced
from .request_guard import install as install_guard
from .served_model import ServedModel


def build_app(models: list[ServedModel], max_body_bytes: int, models_root: Path | None = None):
    """The KServe app; with `models_root`, loading a model not served yet (first promotion) adds it."""
    from kserve.model_repository import ModelRepository
    from kserve.model_server import app
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.server import RESTServer

    class ServedModels(ModelRepository):
        def load(self, name: str) -> bool:
            model = self.get_model(name)
            if model is not None:
                return model.load()
            if not (models_root and artifacts.served_model_path(models_root, name).is_file()):
                raise KeyError(f"no model {name!r} is served here")
            model = ServedModel(name, artifacts.model_dir(models_root, name))
            model.load()  # before registering: a file that fails to load is never listed
            self.update(model)
            return True

        def unload(self, name: str) -> None:
            raise NotImplementedError("unloading is disabled; promote or roll back a version instead")

    repository = ServedModels()
    for model in models:
        model.load()
        repository.update(model)
    rest = RESTServer("kserve.model_server:app", DataPlane(model_registry=repository),
                      ModelRepositoryExtension(model_registry=repository), http_port=0)
    rest.create_application()  # adds KServe's routes to kserve.model_server's app
    install_guard(app, max_body_bytes)
    return app


def promoted_models(root: Path, names: list[str] | None) -> list[ServedModel]:
    """The models under `root` that have a served file (all of them, or `names`)."""
    root = Path(root)
    candidates = names or []
    if not candidates and root.is_dir():
        candidates = sorted(p.name for p in root.iterdir() if (p / artifacts.MODEL_FILE).is_file())
    missing = [n for n in candidates if not artifacts.served_model_path(root, n).is_file()]
    if missing or not candidates:
        raise ConfigError(f"nothing promoted to serve under {root} ({', '.join(missing) or 'no models'}); "
                          "train, validate and promote first (make demo or modelkit train --model NAME)")
    return [ServedModel(name, artifacts.model_dir(root, name)) for name in candidates]


def run(models: list[ServedModel], host: str, port: int, max_body_bytes: int, announce_in: Path | None) -> None:
    """Serve until interrupted; `announce_in` (a models root) records the URL for promote's reload call."""
    import uvicorn

    app = build_app(models, max_body_bytes, announce_in)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_keep_alive=65)
    server = uvicorn.Server(config)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    for model in models:
        print(f"serving {model.name} version {model.current.run_id} at {url}/v1/models/{model.name}:predict", flush=True)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; exit cleanly then, so
    # the server record is removed.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit_quietly)
    with announced(announce_in, url, [m.name for m in models]):
        server.run()


def _exit_quietly(signum: int, _frame: object) -> None:
    raise SystemExit(0)
