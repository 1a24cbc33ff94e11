"""`modelkit serve`: the KServe Python model server for promoted models.

Locally it serves every promoted model under the models root on 127.0.0.1 (KServe's
own ModelServer binds 0.0.0.0, so the app is built with RESTServer.create_application
and run by uvicorn on the address asked for). In the cluster, the `modelkit`
ServingRuntime runs `modelkit serve --model-name N --model-dir /mnt/models --host
0.0.0.0 --port 8080`. `POST /v2/repository/models/<name>/load` reloads a model from
disk (local promote and rollback call it); it is on by default only when bound to a
loopback address (`--repository-api auto|on|off`), takes only a registry model's
directory directly under the models root, and unload is refused, so nobody can take a
model away. A model whose file cannot be loaded is reported and left out; a failed
reload keeps the loaded version serving.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import sys
from pathlib import Path

from .. import artifacts
from ..errors import ConfigError, ModelkitError
from ..registry import is_dns_label, load_registry
from .lean_predict import LeanV1Predict
from .local_server import announced
from .request_guard import install as install_guard
from .served_model import BadRequest, ServedModel

REPOSITORY_API_SETTINGS = ("auto", "on", "off")


def repository_api_enabled(setting: str, host: str) -> bool:
    """`auto`: only when the server is bound to a loopback address (nobody else can reach it)."""
    if setting != "auto":
        return setting == "on"
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def contained_model_dir(root: Path, name: str) -> Path:
    """`root/name`, refused when it or its served file resolves outside the models root."""
    directory = artifacts.model_dir(Path(root).resolve(), name)
    served = directory / artifacts.MODEL_FILE
    if directory.resolve().parent != directory.parent or served.resolve().parent != directory.resolve():
        raise ConfigError(f"{directory} resolves outside the models root {directory.parent}; refusing to serve it")
    return directory


def build_app(models: list[ServedModel], max_body_bytes: int, repository_api: bool, models_root: Path | None = None):
    """The KServe app; with `models_root`, loading a model not served yet (first promotion) adds it."""
    from kserve.errors import ModelNotFound
    from kserve.model_repository import ModelRepository
    from kserve.model_server import app
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.server import RESTServer

    max_rows = models[0].max_rows  # a model promoted for the first time gets the same row limit

    class ServedModels(ModelRepository):
        async def load(self, name: str) -> bool:
            """Load in a worker thread: unpickling a model must not stall the requests being answered."""
            model = self.get_model(name)
            if model is None:
                model = ServedModel(name, self._first_promoted(name), max_rows)
                await asyncio.to_thread(model.load)  # before registering: a file that fails to load is never listed
                self.update(model)
            else:
                await asyncio.to_thread(model.load)
            return True

        @staticmethod
        def _first_promoted(name: str) -> Path:
            if models_root is None or name not in load_registry():
                raise ModelNotFound(name)
            try:
                directory = contained_model_dir(models_root, name)
            except ConfigError as exc:
                raise BadRequest(str(exc)) from None
            if not (directory / artifacts.MODEL_FILE).is_file():
                raise ModelNotFound(name)
            return directory

        def unload(self, name: str) -> None:
            raise NotImplementedError("unloading is disabled; promote or roll back a version instead")

    class CheckedRepositoryExtension(ModelRepositoryExtension):
        """KServe's extension turns every load failure into a 503 "not ready"; here the cause gets its own
        status: 400 for a name that is no model name, 404 for no such model, 500 naming the file."""

        async def load(self, model_name: str) -> None:
            if not is_dns_label(model_name):  # a URL's model name must be a registry name's form
                raise BadRequest(f"{model_name!r} is not a model name: a DNS-1123 label (lowercase letters, digits "
                                 "and '-', at most 63 characters), the model's name in the registry")
            await self._model_registry.load(model_name)

    repository = ServedModels()
    for model in models:
        repository.update(model)
    rest = RESTServer("kserve.model_server:app", DataPlane(model_registry=repository),
                      CheckedRepositoryExtension(model_registry=repository), http_port=0)
    rest.create_application()  # adds KServe's routes to kserve.model_server's app
    app.add_middleware(LeanV1Predict, repository=repository, exception_handlers=app.exception_handlers)
    install_guard(app, max_body_bytes, repository_api)  # added last: outside the lean route, checks it too
    return app


def promoted_models(root: Path, names: list[str] | None, max_rows: int) -> list[ServedModel]:
    """The models under `root` that have a served file (all of them, or `names`)."""
    root = Path(root)
    candidates = names or []
    if not candidates and root.is_dir():
        candidates = sorted(p.name for p in root.iterdir() if (p / artifacts.MODEL_FILE).is_file())
    missing = [n for n in candidates if not artifacts.served_model_path(root, n).is_file()]
    if missing or not candidates:
        raise ConfigError(f"nothing promoted to serve under {root} ({', '.join(missing) or 'no models'}); "
                          "train, validate and promote first (make demo or modelkit train --model NAME)")
    return [ServedModel(name, contained_model_dir(root, name), max_rows) for name in candidates]


def loaded(models: list[ServedModel]) -> list[ServedModel]:
    """The models whose served file loads; each one that does not is reported on one line."""
    ready = []
    for model in models:
        try:
            model.load()
            ready.append(model)
        except ModelkitError as exc:
            print(f"modelkit serve: not serving {model.name}: {exc}", file=sys.stderr, flush=True)
    if not ready:
        raise ConfigError(f"no model could be loaded ({', '.join(m.name for m in models)}); see the messages above")
    return ready


def run(models: list[ServedModel], host: str, port: int, max_body_bytes: int, announce_in: Path | None,
        repository_api: str = "auto", access_log: bool = False) -> None:
    """Serve until interrupted; `announce_in` (a models root) records the URL for promote's reload call."""
    import uvicorn

    models = loaded(models)
    app = build_app(models, max_body_bytes, repository_api_enabled(repository_api, host), announce_in)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_keep_alive=65,
                            access_log=access_log)
    if access_log:  # log_level above sets uvicorn's access logger to warning too
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
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
