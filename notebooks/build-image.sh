#!/usr/bin/env bash
# make image: build notebooks/Containerfile with podman, buildah or docker, whichever is found first.
#
#   IMAGE=repo:tag         image name (default: images.workbench of charts/hub/values.yaml)
#   CONTAINER_TOOL=name    use this tool instead of searching
#   BASE_IMAGE=ref         another (for example mirrored) base image
#   DRY_RUN=1              print the build command instead of running it
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=(podman buildah docker)
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

find_tool() {
  if [ -n "${CONTAINER_TOOL:-}" ]; then
    command -v "$CONTAINER_TOOL" > /dev/null || { echo "make image: CONTAINER_TOOL=$CONTAINER_TOOL is not installed" >&2; return 1; }
    echo "$CONTAINER_TOOL"
    return
  fi
  for tool in "${TOOLS[@]}"; do
    if command -v "$tool" > /dev/null; then echo "$tool"; return; fi
  done
  echo "make image: none of ${TOOLS[*]} is installed; install one (for example: apt-get install podman) or build notebooks/Containerfile on a machine that has one" >&2
  return 1
}

default_image() {
  "$PY" - <<'PY'
import yaml
image = yaml.safe_load(open("charts/hub/values.yaml"))["images"]["workbench"]
print(f"{image['repository']}:{image['tag']}")
PY
}

tool=$(find_tool) || exit 127
image=${IMAGE:-$(default_image)}
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# Only what the image needs: no .venv, caches, local model folders or dev tools (the generator) in the build context.
tar --exclude='__pycache__' --exclude='.ipynb_checkpoints' --exclude='*.pyc' \
    -cf - pyproject.toml notebooks charts/hub/values.yaml | tar -xf - -C "$context"

command=("$tool" build -f "$context/notebooks/Containerfile" -t "$image")
[ "$tool" = docker ] || command+=(--isolation chroot)  # podman/buildah inside containers and CI runners
[ -z "${BASE_IMAGE:-}" ] || command+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
command+=("$context")

if [ -n "${DRY_RUN:-}" ]; then
  echo "${command[*]}"
  exit 0
fi
echo "make image: building $image with $tool"
if ! "${command[@]}"; then
  echo "make image: $tool could not build $image. The most common cause is that the base image" \
       "($(sed -n 's/^ARG BASE_IMAGE=//p' notebooks/Containerfile)) cannot be pulled: check network access" \
       "to registry.access.redhat.com, or mirror it and pass BASE_IMAGE=<your mirror>." >&2
  exit 1
fi
echo "make image: built $image"
