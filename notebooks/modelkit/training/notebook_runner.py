"""`modelkit run-notebook`: execute a training notebook headless and publish its version.

The runner owns the version's staging directory: the notebook (told through
MODELKIT_STAGING_DIR) writes model.pkl and metadata.json there, the runner adds the
executed notebook as report.html and only then renames the directory to its run id.
A failed or interrupted run leaves no version behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbconvert import HTMLExporter

from ..artifacts import REPORT_FILE, VersionWriter, run_id_or_new
from ..errors import EXIT_FAILED, ModelkitError, exit_code_for
from ..registry import find_registry_file
from .params import check_params, project_root

KERNEL_NAME = "python3"


class NotebookFailed(ModelkitError):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _echo_outputs(cell, cell_index, execute_reply) -> None:
    """Copy each cell's printed output to our stdout: the pod log shows the run (and "Model Evaluation")."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            print(output.get("text", ""), end="", flush=True)


def kernel_manager() -> KernelManager:
    """A kernel on this very interpreter (which has modelkit), whatever kernels the user has installed:
    with no kernel folders searched, "python3" is ipykernel's native spec for sys.executable."""
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


def execute(notebook: Path, kernel_env: dict[str, str], timeout: int) -> nbformat.NotebookNode:
    book = nbformat.read(notebook, as_version=4)
    manager = kernel_manager()
    client = NotebookClient(
        book, km=manager, timeout=timeout, kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(notebook.parent)}}, on_cell_executed=_echo_outputs,
    )
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as exc:
        code = exit_code_for(exc.ename)  # a cell's exception arrives as a class name only
        raise NotebookFailed(f"{notebook.name} stopped: {exc.ename}: {exc.evalue}", code) from None
    except CellTimeoutError:
        raise NotebookFailed(f"{notebook.name}: a cell ran longer than {timeout} s", EXIT_FAILED) from None
    finally:
        if manager.has_kernel:
            manager.shutdown_kernel(now=True)  # a kernel we passed in is ours to stop
    return book


def to_html(book: nbformat.NotebookNode) -> bytes:
    body, _ = HTMLExporter().from_notebook_node(book)
    return body.encode()


def run_notebook(env: Mapping[str, str] | None = None, timeout: int = 3600) -> Path:
    """Check the params, execute the notebook (each cell may run `timeout` s), publish the version; return its directory."""
    env = dict(os.environ if env is None else env)
    root = project_root()
    settings, spec, notebook = check_params(env, root)
    run_id = run_id_or_new(settings.run_id)
    models_root = settings.models_root.resolve()
    print(f"RUN_ID={run_id} model={spec.name} notebook={notebook.relative_to(root)}", flush=True)
    with VersionWriter(models_root, spec.name, run_id) as version:
        kernel_env = {
            **env,
            "RUN_ID": run_id,
            "MODELS_ROOT": str(models_root),  # the kernel runs in the notebook's folder
            "MODELKIT_REGISTRY": str(find_registry_file(root).resolve()),
            "MODELKIT_STAGING_DIR": str(version.staging_path),
            **({"DATA_FILE": str(settings.data_file.resolve())} if settings.data_file else {}),  # relative to the repository
        }
        book = execute(notebook, kernel_env, timeout)
        version.add_file(REPORT_FILE, to_html(book))
    print(f"VERSION_DIR={version.path}", flush=True)
    return version.path
