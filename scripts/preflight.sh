#!/usr/bin/env bash
# Does the cluster have what the hub chart needs? One line per check (OK / WARN / FAIL / SKIP),
# exit 1 when any check fails. Read-only: only `get` requests, with oc (or kubectl) as logged in.
#
#   scripts/preflight.sh [-n NAMESPACE] [--storage-class NAME] [--access-mode ReadWriteOnce|ReadWriteMany]
#                        [--deployment-mode RawDeployment|Serverless] [--existing-runtime NAME]
#                        [--training-hours N] [--argocd-instance NAMESPACE | --no-argocd]
#
# The options mirror the chart's values (storage.storageClassName, storage.accessMode,
# serving.deploymentMode, serving.existingRuntime); docs/ARCHITECTURE.md "What a cluster needs".
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"

STORAGE_CLASS=""
ACCESS_MODE=ReadWriteOnce
DEPLOYMENT_MODE=RawDeployment
EXISTING_RUNTIME=""
TRAINING_HOURS=""
ARGOCD_INSTANCE=openshift-gitops
MIN_TEKTON=0.50          # Tekton Pipelines v1 API with taskRunTemplate; OpenShift Pipelines 1.12
WARM_UP_HOURS=24         # features look back up to a day before the first training row

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) NAMESPACE=${2:?}; shift 2 ;;
    --storage-class) STORAGE_CLASS=${2:?}; shift 2 ;;
    --access-mode) ACCESS_MODE=${2:?}; shift 2 ;;
    --deployment-mode) DEPLOYMENT_MODE=${2:?}; shift 2 ;;
    --existing-runtime) EXISTING_RUNTIME=${2:?}; shift 2 ;;
    --training-hours) TRAINING_HOURS=${2:?}; shift 2 ;;
    --argocd-instance) ARGOCD_INSTANCE=${2:?}; shift 2 ;;
    --no-argocd) ARGOCD_INSTANCE=""; shift ;;
    -h|--help) usage ;;
    *) die "unknown option '$1' (--help lists them)" ;;
  esac
done
[[ "$ACCESS_MODE" =~ ^(ReadWriteOnce|ReadWriteMany)$ ]] || die "--access-mode must be ReadWriteOnce or ReadWriteMany, not '$ACCESS_MODE'"
[[ "$DEPLOYMENT_MODE" =~ ^(RawDeployment|Serverless)$ ]] || die "--deployment-mode must be RawDeployment or Serverless, not '$DEPLOYMENT_MODE'"
[ -z "$TRAINING_HOURS" ] || [[ "$TRAINING_HOURS" =~ ^[1-9][0-9]*$ ]] || die "--training-hours must be a whole number of hours, not '$TRAINING_HOURS'"

PY=$(modelkit_python)   # only its standard library (json, re) is used
FAILED=0
report() {  # report STATUS CHECK MESSAGE
  printf '%-4s %-18s %s\n' "$1" "$2" "$3"
  [ "$1" != FAIL ] || FAILED=$((FAILED + 1))
}

# get [-n NS] ARGS...: the object(s) as JSON, empty when absent (no error on stdout/stderr).
get() {
  local ns=$NAMESPACE
  if [ "$1" = -n ]; then ns=$2; shift 2; fi
  NAMESPACE=$ns kube get "$@" -o json 2>/dev/null
}

# field JSON PATH [DEFAULT]: a value from JSON by a dotted path (list indices as numbers).
field() {
  "$PY" -S - "$2" "${3:-}" 3<<<"$1" <<'EOF'
import json, sys
path, default = sys.argv[1], sys.argv[2]
text = open(3).read()
try:
    value = json.loads(text) if text.strip() else None
    for key in path.split(".") if path else []:
        value = value[int(key)] if isinstance(value, list) else value.get(key)
except (AttributeError, IndexError, KeyError, TypeError, ValueError):
    value = None
if value in (None, ""):
    print(default)
elif isinstance(value, (dict, list)):
    print(json.dumps(value))
else:
    print(value)
EOF
}

version_at_least() {  # version_at_least HAVE NEED  (v0.59.2 >= 0.50)
  "$PY" -S - "$1" "$2" <<'EOF'
import re, sys
have, need = (tuple(int(p) for p in re.findall(r"\d+", v)[:3]) for v in sys.argv[1:])
sys.exit(0 if have >= need else 1)
EOF
}

hours_of() {  # hours_of DURATION: Prometheus durations (15d, 2w, 360h, 1y) in whole hours
  "$PY" -S - "$1" <<'EOF'
import re, sys
units = {"y": 8760, "w": 168, "d": 24, "h": 1, "m": 1 / 60, "s": 1 / 3600, "ms": 1 / 3.6e6}
parts = re.findall(r"(\d+)(ms|[ywdhms])", sys.argv[1])
print(int(sum(int(n) * units[u] for n, u in parts)) if parts else "")
EOF
}

check_cluster() {
  if [ -z "$(get namespace default)" ]; then
    report FAIL cluster "cannot read the cluster with $(command -v oc || command -v kubectl): log in (oc login ...) and run again"
    exit 1
  fi
  report OK cluster "reachable"
}

check_tekton() {
  local crd versions ns info version flags
  crd=$(get crd pipelineruns.tekton.dev)
  versions=$(field "$crd" spec.versions)
  if [ -z "$crd" ] || ! grep -q '"name": "v1"' <<<"$versions"; then
    report FAIL tekton "no tekton.dev/v1 PipelineRun API: install OpenShift Pipelines 1.12 or later (Tekton Pipelines >= v$MIN_TEKTON)"
    return
  fi
  for ns in openshift-pipelines tekton-pipelines; do
    info=$(get -n "$ns" configmap pipelines-info)
    [ -n "$info" ] && break
  done
  version=$(field "$info" data.version)
  if [ -z "$version" ]; then
    report WARN tekton "tekton.dev/v1 served; version unknown (no pipelines-info ConfigMap): the chart needs Tekton Pipelines >= v$MIN_TEKTON"
  elif version_at_least "$version" "$MIN_TEKTON"; then
    report OK tekton "Tekton Pipelines $version (>= v$MIN_TEKTON)"
  else
    report FAIL tekton "Tekton Pipelines $version is older than v$MIN_TEKTON: upgrade OpenShift Pipelines to 1.12 or later"
  fi
  flags=$(get -n "$ns" configmap feature-flags)
  report OK tekton-api-fields "enable-api-fields=$(field "$flags" 'data.enable-api-fields' 'unset (Tekton default)'); the chart's defaults use stable fields only"
}

check_kserve() {
  local dsc state config mode ns
  if [ -z "$(get crd inferenceservices.serving.kserve.io)" ]; then
    report FAIL kserve "no InferenceService API: install OpenShift AI with the kserve component Managed (or upstream KServe)"
    return
  fi
  dsc=$(field "$(get datasciencecluster)" items.0)
  state=$(field "$dsc" spec.components.kserve.managementState)
  if [ -n "$dsc" ] && [ "$state" != Managed ]; then
    report FAIL kserve "OpenShift AI's DataScienceCluster has kserve '${state:-unset}': set spec.components.kserve.managementState=Managed"
    return
  fi
  for ns in redhat-ods-applications opendatahub kserve; do
    config=$(get -n "$ns" configmap inferenceservice-config)
    [ -n "$config" ] && break
  done
  mode=$(field "$(field "$config" data.deploy)" defaultDeploymentMode 'unknown')
  if [ "$DEPLOYMENT_MODE" = Serverless ] && [ -z "$(get crd services.serving.knative.dev)" ]; then
    report FAIL kserve "serving.deploymentMode=Serverless but Knative Serving is not installed (OpenShift Serverless + Service Mesh); use RawDeployment"
    return
  fi
  report OK kserve "InferenceService API present${dsc:+ (OpenShift AI, kserve Managed)}; cluster default mode $mode, the chart renders $DEPLOYMENT_MODE"
}

check_runtime() {
  local runtime formats openshift_ai
  if [ -z "$EXISTING_RUNTIME" ]; then
    if [ -z "$(get crd servingruntimes.serving.kserve.io)" ]; then
      report FAIL sklearn-runtime "no ServingRuntime API (serving.kserve.io): the chart's ServingRuntime cannot be created"
    else
      report OK sklearn-runtime "the chart renders ServingRuntime kserve-sklearnserver in $NAMESPACE (serving.runtime=sklearn)"
    fi
    return
  fi
  openshift_ai=$(get crd datascienceclusters.datasciencecluster.opendatahub.io)
  runtime=$(get servingruntime "$EXISTING_RUNTIME")
  if [ -z "$runtime" ]; then
    runtime=$(get clusterservingruntime "$EXISTING_RUNTIME")
    if [ -n "$runtime" ] && [ -n "$openshift_ai" ]; then
      report FAIL sklearn-runtime "$EXISTING_RUNTIME is a ClusterServingRuntime, which OpenShift AI never looks up: leave serving.existingRuntime empty (the chart renders one)"
      return
    fi
  fi
  if [ -z "$runtime" ]; then
    report FAIL sklearn-runtime "no ServingRuntime '$EXISTING_RUNTIME' in $NAMESPACE (nor ClusterServingRuntime): fix serving.existingRuntime or leave it empty"
    return
  fi
  formats=$(field "$runtime" spec.supportedModelFormats)
  if grep -q '"name": "sklearn"' <<<"$formats"; then
    report OK sklearn-runtime "$EXISTING_RUNTIME serves sklearn (its scikit-learn must be 1.5.2, the models')"
  else
    report FAIL sklearn-runtime "$EXISTING_RUNTIME lists no sklearn model format: pick another serving.existingRuntime or leave it empty"
  fi
}

# Provisioners whose volumes attach to one node (block devices): ReadWriteOnce only.
RWO_ONLY='ebs.csi.aws.com kubernetes.io/aws-ebs disk.csi.azure.com kubernetes.io/azure-disk pd.csi.storage.gke.io kubernetes.io/gce-pd csi.vsphere.vmware.com kubernetes.io/vsphere-volume rbd.csi.ceph.com openshift-storage.rbd.csi.ceph.com cinder.csi.openstack.org kubernetes.io/cinder topolvm.io'
RWX_CAPABLE='cephfs.csi.ceph.com openshift-storage.cephfs.csi.ceph.com efs.csi.aws.com file.csi.azure.com nfs.csi.k8s.io filestore.csi.storage.gke.io'

check_storage() {
  local class name provisioner binding classes
  if [ -n "$STORAGE_CLASS" ]; then
    class=$(get storageclass "$STORAGE_CLASS")
    [ -n "$class" ] || { report FAIL storage "no StorageClass '$STORAGE_CLASS': fix storage.storageClassName"; return; }
  else
    classes=$(get storageclass)
    class=$("$PY" -S -c '
import json, sys
items = json.loads(sys.stdin.read() or "{}").get("items", [])
default = [c for c in items if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
print(json.dumps(default[0]) if default else "")' <<<"$classes")
    [ -n "$class" ] || { report FAIL storage "no default StorageClass: set storage.storageClassName (and --storage-class here)"; return; }
  fi
  name=$(field "$class" metadata.name)
  provisioner=$(field "$class" provisioner)
  binding=$(field "$class" volumeBindingMode Immediate)
  if [ "$ACCESS_MODE" = ReadWriteOnce ]; then
    report OK storage "$name ($provisioner, $binding): ReadWriteOnce, every pod that mounts the claim runs on the troubleshooting pod's node"
  elif [[ " $RWO_ONLY " == *" $provisioner "* ]]; then
    report FAIL storage "$name ($provisioner) offers ReadWriteOnce only: the ReadWriteMany claim would stay Pending; use storage.accessMode=ReadWriteOnce or a class with ReadWriteMany (ODF CephFS, EFS, NFS)"
  elif [[ " $RWX_CAPABLE " == *" $provisioner "* ]]; then
    report OK storage "$name ($provisioner, $binding) offers ReadWriteMany"
  else
    report WARN storage "$name ($provisioner): cannot tell whether it offers ReadWriteMany; if the claim stays Pending use storage.accessMode=ReadWriteOnce"
  fi
}

registry_training_hours() {  # the longest window of an enabled model in the registry
  "$PY" -S - "$PROJECT_ROOT/charts/hub/values.yaml" <<'EOF'
import re, sys
# values.yaml without a YAML library: the registry's `trainingHours:` lines (one per model).
print(max(int(h) for h in re.findall(r"^\s+trainingHours:\s*(\d+)", open(sys.argv[1]).read(), re.M)))
EOF
}

check_retention() {
  local prometheus retention have need
  prometheus=$(get -n openshift-monitoring prometheus k8s)
  if [ -z "$prometheus" ]; then
    report WARN prometheus "no openshift-monitoring Prometheus k8s: check that prometheus.url keeps at least the training window"
    return
  fi
  retention=$(field "$prometheus" spec.retention 15d)
  have=$(hours_of "$retention")
  need=$(( ${TRAINING_HOURS:-$(registry_training_hours)} + WARM_UP_HOURS ))
  if [ -n "$have" ] && [ "$have" -ge "$need" ]; then
    report OK prometheus "platform Prometheus keeps $retention ($have h) >= $need h (training window + ${WARM_UP_HOURS} h warm-up)"
  else
    report FAIL prometheus "platform Prometheus keeps $retention (${have:-?} h) < $need h (training window + ${WARM_UP_HOURS} h warm-up): raise prometheusK8s.retention in cluster-monitoring-config or shorten trainingHours"
  fi
}

check_argocd() {
  local target label
  if [ -z "$ARGOCD_INSTANCE" ]; then
    report SKIP argocd "--no-argocd (Helm install)"
    return
  fi
  if [ -z "$(get namespace "$ARGOCD_INSTANCE")" ]; then
    report SKIP argocd "no namespace $ARGOCD_INSTANCE (no OpenShift GitOps; or pass --argocd-instance)"
    return
  fi
  target=$(get namespace "$NAMESPACE")
  if [ -z "$target" ]; then
    report OK argocd "namespace $NAMESPACE does not exist yet: deploy/argocd/application.yaml creates it labelled for $ARGOCD_INSTANCE"
    return
  fi
  label=$("$PY" -S -c 'import json, sys; print(json.loads(sys.stdin.read())["metadata"].get("labels", {}).get("argocd.argoproj.io/managed-by", ""))' <<<"$target")
  if [ "$label" = "$ARGOCD_INSTANCE" ]; then
    report OK argocd "namespace $NAMESPACE is managed by $ARGOCD_INSTANCE"
  else
    report FAIL argocd "namespace $NAMESPACE exists without argocd.argoproj.io/managed-by=$ARGOCD_INSTANCE${label:+ (it says $label)}: oc label namespace $NAMESPACE argocd.argoproj.io/managed-by=$ARGOCD_INSTANCE --overwrite"
  fi
}

check_cluster
check_tekton
check_kserve
check_runtime
check_storage
check_retention
check_argocd
if [ "$FAILED" -gt 0 ]; then
  echo "preflight: $FAILED check(s) failed; fix them before installing the chart" >&2
  exit 1
fi
echo "preflight: the cluster has what the chart needs"
