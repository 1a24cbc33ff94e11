# Shared by the operator scripts: option defaults, the cluster CLI, the project's Python.
# Sourced, not run. Every value from the command line stays quoted; manifests are built
# by Python (json.dumps), never by pasting values into YAML.

PROJECT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NAMESPACE=${NAMESPACE:-self-healing-platform}
MODE=cluster

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# The project's Python (with modelkit installed): $MODELKIT_PYTHON, the .venv, or python3.
modelkit_python() {
  if [ -n "${MODELKIT_PYTHON:-}" ]; then
    echo "$MODELKIT_PYTHON"
  elif [ -x "$PROJECT_ROOT/.venv/bin/python" ]; then
    echo "$PROJECT_ROOT/.venv/bin/python"
  else
    echo python3
  fi
}

modelkit() {
  "$(modelkit_python)" -m modelkit.cli "$@"
}

# oc when present (OpenShift), else kubectl; $KUBECTL overrides.
kube() {
  local cli=${KUBECTL:-}
  if [ -z "$cli" ]; then
    if command -v oc >/dev/null 2>&1; then cli=oc
    elif command -v kubectl >/dev/null 2>&1; then cli=kubectl
    else die "neither oc nor kubectl is on PATH; install one, or use --local for the local setup"
    fi
  fi
  "$cli" -n "$NAMESPACE" "$@"
}

# Model names follow the registry's rule (modelkit.registry.model_name_problem: a DNS-1123
# label whose CronJob name fits); anything else is refused before it reaches a command.
check_model_name() {
  local problem
  problem=$("$(modelkit_python)" -c 'import sys
from modelkit.registry import model_name_problem
print(model_name_problem(sys.argv[1]) or "")' "$1") || die "cannot check model name '$1' with $(modelkit_python)"
  [ -z "$problem" ] || die "$problem"
}

# Names of the models in the registry, one per line.
registry_models() {
  "$(modelkit_python)" -c 'from modelkit.registry import load_registry
print("\n".join(load_registry()))'
}

# The live scorer's view (served versions' age, online quality, drift) when `modelkit watch` runs:
# locally on 127.0.0.1:$SCORER_PORT, in the cluster through the API server's service proxy to
# $SCORER_SERVICE (name:port). Prints a note and returns 0 when the scorer does not answer.
SCORER_PORT=${SCORER_PORT:-9100}
SCORER_SERVICE=${SCORER_SERVICE:-modelkit-scorer:9100}
check_scorer_port() { [[ "$1" =~ ^[0-9]{1,5}$ ]] || die "--scorer-port '$1' is not a port number"; }
# NAME:PORT, NAME a Service name (the registry's DNS-1123 rule, modelkit.registry.is_dns_label).
check_scorer_service() {
  [[ "$1" =~ ^([^:]+):[0-9]{1,5}$ ]] && "$(modelkit_python)" -c 'import sys
from modelkit.registry import is_dns_label
sys.exit(not is_dns_label(sys.argv[1]))' "${BASH_REMATCH[1]}" || die "--scorer-service '$1' is not NAME:PORT (NAME a DNS-1123 label)"
}
scorer_report() {
  if [ "$MODE" = local ]; then
    "$(modelkit_python)" -m modelkit.scoring.health_report --url "http://127.0.0.1:${SCORER_PORT}/metrics" "$@"
  else
    local text
    text=$(kube get --raw "/api/v1/namespaces/${NAMESPACE}/services/${SCORER_SERVICE}/proxy/metrics" 2>/dev/null) || text=""
    printf '%s' "$text" | "$(modelkit_python)" -m modelkit.scoring.health_report --stdin --source "service ${SCORER_SERVICE}" "$@"
  fi
}
