#!/usr/bin/env bash
# Validate every model of the registry: is it served, and does it answer?
#   cluster (default): each InferenceService is Ready and its predictor pods are ready.
#   --local:           each model's served version answers its held-out probe rows over
#                      HTTP exactly like the version file (modelkit smoke-test).
# Then, when the live scorer (modelkit watch) answers: served versions' age and online quality.
# Exits 1 naming every model that failed (the scorer's report does not change the exit code).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() {
  echo "usage: $(basename "$0") [-n NAMESPACE] [--local [--models-root DIR] [--scorer-port N]] [--scorer-service NAME:PORT] [--model NAME]"
}

ROOT_OPTION=()
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) NAMESPACE=${2:?"-n needs a namespace"}; shift 2 ;;
    --local) MODE=local; shift ;;
    --models-root) ROOT_OPTION=(--models-root "${2:?"--models-root needs a directory"}"); shift 2 ;;
    --model) ONLY=${2:?"--model needs a name"}; check_model_name "$ONLY"; shift 2 ;;
    --scorer-port) SCORER_PORT=${2:?"--scorer-port needs a port"}; check_scorer_port "$SCORER_PORT"; shift 2 ;;
    --scorer-service) SCORER_SERVICE=${2:?"--scorer-service needs NAME:PORT"}; check_scorer_service "$SCORER_SERVICE"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

if [ -n "$ONLY" ]; then models=("$ONLY"); else mapfile -t models < <(registry_models); fi
[ "${#models[@]}" -gt 0 ] || die "the models registry lists no models"

failed=()
for model in "${models[@]}"; do
  if [ "$MODE" = local ]; then
    if modelkit smoke-test --model "$model" "${ROOT_OPTION[@]}"; then
      echo "OK   $model"
    else
      echo "FAIL $model: its served version does not answer correctly (see above)" >&2
      failed+=("$model")
    fi
    continue
  fi
  if ! isvc=$(kube get inferenceservice "$model" -o json); then
    echo "FAIL $model: no InferenceService $model in namespace $NAMESPACE" >&2
    failed+=("$model"); continue
  fi
  if problem=$(printf '%s' "$isvc" | "$(modelkit_python)" -c 'import json, sys
from modelkit.lifecycle.cluster import readiness_problem
problem = readiness_problem(json.load(sys.stdin))
print(problem or "")
sys.exit(1 if problem else 0)'); then
    kube get pods -l "serving.kserve.io/inferenceservice=$model" \
      -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.phase}{" served-version="}{.metadata.annotations.modelkit\.io/served-version}{"\n"}{end}'
    echo "OK   $model"
  else
    echo "FAIL $model: InferenceService $problem" >&2
    failed+=("$model")
  fi
done

if [ -n "$ONLY" ]; then scorer_report --model "$ONLY"; else scorer_report; fi
if [ "${#failed[@]}" -gt 0 ]; then
  die "${#failed[@]} of ${#models[@]} models failed validation: ${failed[*]}"
fi
echo "all ${#models[@]} models validated"
