#!/usr/bin/env bash
# The latest training run of each model and how it ended.
#   cluster (default): PipelineRuns labelled model-name, plus the weekly CronJobs.
#   --local:           the local versions: run outcome, gate verdict, what is served.
# Then, when the live scorer (modelkit watch) answers: served versions' age and online quality.
# Exits 1 naming the models whose latest run failed.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() {
  echo "usage: $(basename "$0") [-n NAMESPACE] [--model NAME] [--local [--models-root DIR] [--scorer-port N]] [--scorer-service NAME:PORT]"
}

SELECTOR=model-name
ROOT_OPTION=()
MODEL_OPTION=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) NAMESPACE=${2:?"-n needs a namespace"}; shift 2 ;;
    --model) check_model_name "${2:?"--model needs a name"}"; SELECTOR="model-name=$2"; MODEL_OPTION=(--model "$2"); shift 2 ;;
    --local) MODE=local; shift ;;
    --models-root) ROOT_OPTION=(--models-root "${2:?"--models-root needs a directory"}"); shift 2 ;;
    --scorer-port) SCORER_PORT=${2:?"--scorer-port needs a port"}; check_scorer_port "$SCORER_PORT"; shift 2 ;;
    --scorer-service) SCORER_SERVICE=${2:?"--scorer-service needs NAME:PORT"}; check_scorer_service "$SCORER_SERVICE"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

if [ "$MODE" = local ]; then
  status=0
  "$(modelkit_python)" -m modelkit.lifecycle.training_status --local "${ROOT_OPTION[@]}" "${MODEL_OPTION[@]}" || status=$?
  scorer_report "${MODEL_OPTION[@]}"
  exit "$status"
fi

kube get cronjobs -l app.kubernetes.io/component=training-schedule \
  -o custom-columns=CRONJOB:.metadata.name,SCHEDULE:.spec.schedule,LAST:.status.lastScheduleTime,SUSPEND:.spec.suspend \
  || echo "(could not list the training CronJobs)" >&2
runs=$(kube get pipelineruns -l "$SELECTOR" -o json) || die "could not list PipelineRuns in $NAMESPACE (is Tekton installed? are you logged in?)"
status=0
printf '%s' "$runs" | "$(modelkit_python)" -m modelkit.lifecycle.training_status || status=$?
scorer_report "${MODEL_OPTION[@]}"
exit "$status"
