#!/usr/bin/env bash
# helm lint --strict and helm template on the chart with its defaults and every values/ overlay.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.cache/bin:$PATH"
command -v helm >/dev/null || { echo "error: helm not found; run \`make setup\` (or bash hack/install-tools.sh)" >&2; exit 1; }
chart=charts/hub
status=0
for overlay in "" values/*.yaml; do
  args=(--namespace self-healing-platform)
  [ -n "$overlay" ] && args+=(-f "$overlay")
  label=${overlay:-defaults}
  if ! helm lint --strict "$chart" "${args[@]}" >/tmp/helm-lint.$$ 2>&1; then
    echo "helm lint --strict failed ($label):"; cat /tmp/helm-lint.$$; status=1
  elif ! helm template self-healing-platform "$chart" "${args[@]}" >/dev/null 2>/tmp/helm-lint.$$; then
    echo "helm template failed ($label):"; cat /tmp/helm-lint.$$; status=1
  else
    echo "ok: helm lint --strict + helm template ($label)"
  fi
done
rm -f /tmp/helm-lint.$$
exit $status
