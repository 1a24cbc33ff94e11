#!/usr/bin/env bash
# Send a valid prediction request to one model's endpoint and check the answer.
#   cluster (default): port-forwards to a ready predictor pod (as the guide's
#                      pod-IP curl, but from outside the cluster too).
#   --local:           the local `modelkit serve` (or a temporary one), via smoke-test,
#                      then the request below to show the answer.
#   --url URL:         any server (e.g. http://127.0.0.1:8080).
# The request has the model's own feature count: the guide's example for the
# anomaly detector, {"instances": [[0.5, 0.6, 0.4, 0.3, 0.8]]}.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

usage() {
  echo "usage: $(basename "$0") MODEL [-n NAMESPACE] [--local [--models-root DIR]] [--url URL]"
}

MODEL=""
URL=""
ROOT_OPTION=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--namespace) NAMESPACE=${2:?"-n needs a namespace"}; shift 2 ;;
    --local) MODE=local; shift ;;
    --models-root) ROOT_OPTION=(--models-root "${2:?"--models-root needs a directory"}"); shift 2 ;;
    --url) URL=${2:?"--url needs a URL"}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) [ -z "$MODEL" ] || die "one model at a time (got '$MODEL' and '$1')"; MODEL=$1; shift ;;
  esac
done
[ -n "$MODEL" ] || { usage >&2; die "which model? e.g. $(basename "$0") anomaly-detector"; }
check_model_name "$MODEL"

request=$("$(modelkit_python)" -c 'import json, sys
from modelkit.registry import get_model
count = len(get_model(sys.argv[1]).features)
row = [0.5, 0.6, 0.4, 0.3, 0.8] if count == 5 else [0.5] * count
print(json.dumps({"instances": [row]}))' "$MODEL") || die "model '$MODEL' is not in the models registry"

# POST the request to $1 and check the answer holds one prediction.
predict() {
  local endpoint="$1/v1/models/$MODEL:predict" answer
  echo "POST $endpoint"
  echo "  $request"
  answer=$(curl -sS --max-time 30 -w '\n%{http_code}' -X POST "$endpoint" \
    -H 'Content-Type: application/json' --data-binary "$request") || die "no answer from $endpoint"
  printf '%s\n' "$answer" | "$(modelkit_python)" -c 'import json, sys
*body, status = sys.stdin.read().rstrip("\n").split("\n")
text = "\n".join(body)
print(f"  HTTP {status}: {text}")
if status != "200":
    sys.exit(f"FAIL: the endpoint answered HTTP {status}")
predictions = json.loads(text).get("predictions")
if not isinstance(predictions, list) or len(predictions) != 1:
    sys.exit(f"FAIL: expected 1 prediction, got {predictions!r}")
print("OK")'
}

if [ -n "$URL" ]; then
  predict "${URL%/}"
elif [ "$MODE" = local ]; then
  modelkit smoke-test --model "$MODEL" "${ROOT_OPTION[@]}" || die "the smoke test of $MODEL failed"
  server=$("$(modelkit_python)" -c 'import sys
from pathlib import Path
from modelkit.serving.local_server import running_server_url
from modelkit.settings import models_root_from_env
print(running_server_url(Path(sys.argv[1]) if sys.argv[1:] else models_root_from_env()) or "")' "${ROOT_OPTION[@]:1}")
  if [ -n "$server" ]; then predict "$server"; else echo "(no local server running: start one with make serve to curl it)"; fi
else
  pod=$(kube get pods -l "serving.kserve.io/inferenceservice=$MODEL" \
    --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}' 2>/dev/null) || pod=""
  [ -n "$pod" ] || die "no running predictor pod for $MODEL in namespace $NAMESPACE (scripts/validate-models.sh tells why)"
  port=$("$(modelkit_python)" -c 'from modelkit.serving.local_server import free_port; print(free_port())')
  kube port-forward "pod/$pod" "$port:8080" >/dev/null 2>&1 &
  forward=$!
  trap 'kill "$forward" 2>/dev/null' EXIT
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
  predict "http://127.0.0.1:$port"
fi
