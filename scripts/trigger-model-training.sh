#!/usr/bin/env bash
# Start a training run of one model, as the guide's `oc create -f -` does.
#   cluster (default): creates a PipelineRun (generateName train-<model>-, label
#                      model-name) built as JSON by modelkit, never pasted YAML;
#                      --follow streams its logs (tkn) or its status until it ends.
#   --local:           runs the same pipeline steps locally (modelkit train).
# Exits non-zero when the run cannot be created or (with --follow/--local) fails.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() {
  cat <<USAGE
usage: $(basename "$0") MODEL [HOURS] [DATA_SOURCE] [-n NAMESPACE] [--follow] [--git-ref REF] [--git-url URL]
                        [--data-file PATH] [--dry-run] [--local [--models-root DIR]]
  HOURS         hours of history, a whole number > 0 (default: the registry entry's trainingHours)
  DATA_SOURCE   synthetic | prometheus | hybrid | file (default: the registry entry's dataSource)
  --data-file PATH   CSV or Parquet of the model's metrics (DATA_SOURCE file); in a cluster a path
                relative to the root of the repository the run trains from
  --git-url URL, --git-ref REF   train the notebooks of URL at REF (a tag or full commit id pins them;
                default: the chart's global.git, and when that is empty the notebooks baked into the image)
The PipelineRun's timeouts keep 10 min of the registry entry's timeout for the report step.
USAGE
}

positional=()
FOLLOW=false
DRY_RUN=false
extra=()
ROOT_OPTION=()
DATA_FILE_OPTION=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) NAMESPACE=${2:?"-n needs a namespace"}; shift 2 ;;
    --follow|-f) FOLLOW=true; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    --git-ref) extra+=(--git-ref "${2:?"--git-ref needs a ref"}"); shift 2 ;;
    --git-url) extra+=(--git-url "${2:?"--git-url needs a URL"}"); shift 2 ;;
    --data-file) DATA_FILE_OPTION=(--data-file "${2:?"--data-file needs a path"}"); shift 2 ;;
    --local) MODE=local; shift ;;
    --models-root) ROOT_OPTION=(--models-root "${2:?"--models-root needs a directory"}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ "${#positional[@]}" -ge 1 ] && [ "${#positional[@]}" -le 3 ] || { usage >&2; die "give MODEL, and optionally HOURS and DATA_SOURCE"; }
MODEL=${positional[0]}
check_model_name "$MODEL"
options=()
if [ "${#positional[@]}" -ge 2 ]; then
  [[ "${positional[1]}" =~ ^[1-9][0-9]*$ ]] || die "HOURS '${positional[1]}' must be a whole number greater than 0"
  options+=(--training-hours "${positional[1]}")
fi
if [ "${#positional[@]}" -ge 3 ]; then
  case "${positional[2]}" in
    synthetic|prometheus|hybrid|file) options+=(--data-source "${positional[2]}") ;;
    *) die "DATA_SOURCE '${positional[2]}' must be synthetic, prometheus, hybrid or file" ;;
  esac
fi
options+=("${DATA_FILE_OPTION[@]}")

if [ "$MODE" = local ]; then
  exec "$(modelkit_python)" -m modelkit.cli train --model "$MODEL" "${options[@]}" "${ROOT_OPTION[@]}"
fi

# The chart's run spec of the model gives the run its pod template (service account, security
# context, and with ReadWriteOnce storage the affinity to the volume's node).
run_spec=$(mktemp)
trap 'rm -f "$run_spec"' EXIT
if { command -v oc || command -v "${KUBECTL:-kubectl}"; } >/dev/null 2>&1 \
   && kube get configmap "$MODEL-training-run" -o 'jsonpath={.data.pipelinerun\.yaml}' >"$run_spec" 2>/dev/null \
   && [ -s "$run_spec" ]; then
  extra+=(--run-spec "$run_spec")
else
  echo "note: no ConfigMap $MODEL-training-run in $NAMESPACE (chart not installed here?): the run gets Tekton's default pod template" >&2
fi
manifest=$("$(modelkit_python)" -m modelkit.lifecycle.pipelinerun --model "$MODEL" --namespace "$NAMESPACE" \
  "${options[@]}" "${extra[@]}") || die "could not build the PipelineRun for $MODEL"
if [ "$DRY_RUN" = true ]; then
  printf '%s\n' "$manifest"
  exit 0
fi
name=$(printf '%s' "$manifest" | kube create -f - -o name) || die "kubectl create of the PipelineRun failed"
name=${name#*/}
echo "created PipelineRun $name in $NAMESPACE"
[ "$FOLLOW" = true ] || { echo "follow it with: tkn pipelinerun logs -f $name -n $NAMESPACE"; exit 0; }

if command -v tkn >/dev/null 2>&1; then
  tkn pipelinerun logs -f "$name" -n "$NAMESPACE"
fi
last=""
while true; do
  reason=$(kube get pipelinerun "$name" -o jsonpath='{.status.conditions[0].reason}') || die "lost track of PipelineRun $name"
  [ "$reason" = "$last" ] || { echo "$(date -u +%H:%M:%S) $name: ${reason:-Pending}"; last=$reason; }
  case "$reason" in
    Succeeded|Completed) exit 0 ;;
    Failed|PipelineRunTimeout|Cancelled|CancelledRunFinally|StoppedRunFinally|PipelineRunCancelled)
      die "PipelineRun $name ended: $reason ($(kube get pipelinerun "$name" -o jsonpath='{.status.conditions[0].message}'))" ;;
  esac
  sleep 10
done
