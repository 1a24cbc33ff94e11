"""The chart's PipelineRun spec of a model (ConfigMap `<model>-training-run`), rendered from
modelkit's one builder (`modelkit.lifecycle.pipelinerun.build_pipelinerun`).

What only Helm knows (the namespace, the effective registry entry after overrides, the service
account, storage mode) goes into the builder as Helm expressions; `to_helm_yaml` dumps the
builder's output and puts the expressions in place of their tokens:
- `Helm("{{ ... }}")`: a scalar;
- `HelmBlock('include "x" .')`: the mapping the include renders under its key (nindent);
- `HelmKeys('include "x" .')`, as a key: the keys the include adds to the enclosing mapping,
  none when it renders nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from modelkit.errors import ConfigError
from modelkit.lifecycle.pipelinerun import build_pipelinerun, task_run_template
from modelkit.pipeline_steps import DEFAULT_RUN_TIMEOUT, FINALLY_TIMEOUT, PARAM_ENV


@dataclass(frozen=True)
class Helm:
    expression: str


@dataclass(frozen=True)
class HelmBlock:
    include: str


@dataclass(frozen=True)
class HelmKeys:
    include: str


def chart_run_spec(model: str) -> dict[Any, Any]:
    """The builder's run with the template's variables: `$m` the effective entry, `$ns` the namespace."""
    params = {
        "model-name": model,
        "notebook-path": Helm("{{ $m.notebook | quote }}"),
        "data-source": Helm("{{ $m.dataSource | quote }}"),
        "training-hours": Helm("{{ $m.trainingHours | int | quote }}"),
        "inference-service-name": model,
        # Empty git-url: the notebooks baked into the workbench image (global.git in values.yaml).
        "git-url": Helm("{{ .Values.global.git.repoURL | quote }}"),
        "git-ref": Helm("{{ .Values.global.git.revision | quote }}"),
        # Empty: no file. Scheduled runs read the registry entry's dataSource; data-file is for runs started by hand.
        "data-file": "",
    }
    if list(params) != list(PARAM_ENV):
        raise ConfigError(f"generator/run_spec.py: the chart's run passes {list(params)}, the Pipeline declares {list(PARAM_ENV)}")
    # The split is Helm's (hub.training.timeouts): modelOverrides may change the timeout at render time.
    timeouts = HelmBlock(f'include "hub.training.timeouts" (dict "model" "{model}" "timeout" '
                         f'($m.timeout | default "{DEFAULT_RUN_TIMEOUT}") "finally" "{FINALLY_TIMEOUT}")')
    template = task_run_template(Helm("{{ .Values.serviceAccounts.training }}"), HelmBlock('include "hub.podSecurityContext" .'),
                                 {HelmKeys('include "hub.storage.affinity" .'): None})
    return build_pipelinerun(model, Helm("{{ $ns }}"), params, timeouts, template,
                             labels={"app.kubernetes.io/managed-by": Helm("{{ .Release.Service }}")})


def to_helm_yaml(document: Any, indent: int) -> str:
    """`document` as YAML indented by `indent`, its Helm parts in place (see the module docstring)."""
    parts: dict[str, Helm | HelmBlock | HelmKeys] = {}

    def token(part: Helm | HelmBlock | HelmKeys) -> str:
        name = f"HELM_PART_{len(parts)}"
        parts[name] = part
        return name

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            return {token(k) if isinstance(k, HelmKeys) else k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return token(node) if isinstance(node, (Helm, HelmBlock)) else node

    lines = []
    for line in yaml.safe_dump(swap(document), sort_keys=False, default_flow_style=False, width=10_000).splitlines():
        line = " " * indent + line
        pad = len(line) - len(line.lstrip(" -"))
        match = re.search(r"HELM_PART_\d+", line)
        part = parts.get(match.group()) if match else None
        if isinstance(part, Helm):
            line = line.replace(match.group(), part.expression)
        elif isinstance(part, HelmBlock):
            line = line.replace(f" {match.group()}", "") + f"\n{' ' * (pad + 2)}{{{{- {part.include} | nindent {pad + 2} }}}}"
        elif isinstance(part, HelmKeys):
            line = f"{' ' * pad}{{{{- with {part.include} }}}}{{{{ . | nindent {pad} }}}}{{{{ end }}}}"
        lines.append(line)
    return "\n".join(lines)
