"""A stand-in `oc` for scripts that only read the cluster: `oc [-n NS] get RESOURCE [NAME] -o json`
answered from a list of Kubernetes objects, like the API server would (NotFound, exit 1, when
absent; a List without a name). Every call is logged, so a test can see that only `get` ran."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The resource names scripts/preflight.sh asks for -> kind.
RESOURCES = {
    "namespace": "Namespace", "crd": "CustomResourceDefinition", "configmap": "ConfigMap",
    "storageclass": "StorageClass", "prometheus": "Prometheus", "datasciencecluster": "DataScienceCluster",
    "servingruntime": "ServingRuntime", "clusterservingruntime": "ClusterServingRuntime",
}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "StorageClass", "DataScienceCluster", "ClusterServingRuntime"}


def install(bin_dir: Path, objects: list[dict]) -> Path:
    """Write `oc` into bin_dir answering from `objects`; returns the call log's path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state = bin_dir / "cluster.json"
    state.write_text(json.dumps(objects))
    log = bin_dir / "calls.log"
    oc = bin_dir / "oc"
    oc.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                  f"from fake_cluster import main\nsys.exit(main(sys.argv[1:], {str(state)!r}, {str(log)!r}))\n")
    oc.chmod(0o755)
    return log


def main(args: list[str], state: str, log: str) -> int:
    with open(log, "a") as out:
        out.write(" ".join(args) + "\n")
    namespace, rest = "default", []
    i = 0
    while i < len(args):
        if args[i] == "-n":
            namespace, i = args[i + 1], i + 2
        else:
            rest.append(args[i])
            i += 1
    if rest[:1] != ["get"] or rest[-2:] != ["-o", "json"] or len(rest) not in (4, 5):
        print(f"fake oc: unsupported call {args}", file=sys.stderr)
        return 2
    kind = RESOURCES[rest[1]]
    name = rest[2] if len(rest) == 5 else None
    objects = [o for o in json.loads(Path(state).read_text()) if o["kind"] == kind
               and (kind in CLUSTER_SCOPED or o["metadata"].get("namespace") == namespace)]
    if name is None:
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        return 0
    for obj in objects:
        if obj["metadata"]["name"] == name:
            print(json.dumps(obj))
            return 0
    print(f'Error from server (NotFound): {rest[1]} "{name}" not found', file=sys.stderr)
    return 1
