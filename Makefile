# The front door of mlops-tutorial: `make` (or `make help`) lists every target.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Keyed on pyproject.toml's contents (not its mtime, which nbdev-export touches): edit the dependencies and the next
# `make install` reinstalls; otherwise it is a no-op.
INSTALL_STAMP := $(VENV)/.installed-$(shell md5sum pyproject.toml | cut -c1-12)
TORCH_REQUIREMENT := $(shell grep -oE '"torch==[^"]+"' pyproject.toml | tr -d '"')
PACKAGE := mlops_tutorial
NBS := nbs
NBDEV_JOBS ?= 2
PACKAGE_LINT_THRESHOLD ?= 9.5
NOTEBOOK_LINT_THRESHOLD ?= 9.0
JUPYTER_PORT ?= 8888

# A directory or base URL holding winequality-red.csv and winequality-white.csv; empty means the UCI archive.
WINE_QUALITY_MIRROR ?=
export WINE_QUALITY_MIRROR
# Where fetched data lands; notebooks, tests and the CLIs all read it from here.
export WINE_QUALITY_DATA_DIR := $(CURDIR)/data/raw
export DVC_NO_ANALYTICS := 1

.PHONY: help install data export clean-nbs lint check-clean check-export test lab clean

help: ## list the targets with a line each
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

install: $(INSTALL_STAMP) ## create .venv and install the project with its dev tools (a no-op when up to date)

$(INSTALL_STAMP):
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_REQUIREMENT)"
	$(BIN)/python -m pip install --quiet -e ".[dev,ui]"
	touch $@

data: install ## fetch the red and white wine files and verify their checksums
	$(BIN)/python -m $(PACKAGE).data fetch --colour red --colour white

export: install ## write mlops_tutorial/ from the notebooks (nbdev-export)
	$(BIN)/nbdev-export

clean-nbs: install ## strip outputs, execution counts and local metadata from the notebooks (nbdev-clean)
	$(BIN)/nbdev-clean

check-clean: install ## fail if a notebook carries outputs, execution counts or local metadata
	@tools/check-unchanged.sh "notebooks are clean (nbdev-clean)" $(NBS) $(BIN)/nbdev-clean

check-export: install ## fail if mlops_tutorial/ is out of sync with the notebooks
	@tools/check-unchanged.sh "$(PACKAGE)/ matches the notebooks (nbdev-export)" $(PACKAGE) $(BIN)/nbdev-export

lint: install check-clean check-export secrets ## pylint the package and the notebooks (nbqa) against their thresholds
	@echo "pylint $(PACKAGE)/ (fail under $(PACKAGE_LINT_THRESHOLD))"
	@$(BIN)/pylint $(PACKAGE) --fail-under=$(PACKAGE_LINT_THRESHOLD)
	@echo "nbqa pylint $(NBS)/ (fail under $(NOTEBOOK_LINT_THRESHOLD))"
	@$(BIN)/nbqa pylint $(NBS) --fail-under=$(NOTEBOOK_LINT_THRESHOLD)

test: install data lint ## lint, execute every notebook (nbdev-test), then run pytest
	$(BIN)/nbdev-test --n-workers $(NBDEV_JOBS) --do-print
	$(BIN)/pytest

lab: install data ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --notebook-dir=$(NBS) --port=$(JUPYTER_PORT) --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(if $(JUPYTER_TOKEN),--IdentityProvider.token=$(JUPYTER_TOKEN))

clean: ## remove build outputs and caches (never data/ or your notebooks)
	rm -rf build dist *.egg-info _docs _proc .pytest_cache
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 | xargs -0 rm -rf

# ---- Linters and git hooks (nbs/02_linters.ipynb) ----
SECRETS_BASELINE := .secrets.baseline

.PHONY: secrets hooks

secrets: install ## fail if a file in the repository holds a secret not in .secrets.baseline (detect-secrets)
	@git ls-files -z --cached --others --exclude-standard | xargs -0 $(BIN)/detect-secrets-hook --baseline $(SECRETS_BASELINE)
	@echo "ok: no secrets outside $(SECRETS_BASELINE) (detect-secrets)"

hooks: install ## install the git pre-commit hooks of .pre-commit-config.yaml (pre-commit)
	$(BIN)/pre-commit install

# ---- ClearML (nbs/05_clearml.ipynb, nbs/05a_pipeline.ipynb) ----
# Offline ClearML sessions (ClearML's whole cache) live in the project, git-ignored, instead of ~/.clearml/cache.
export CLEARML_CACHE_DIR ?= $(CURDIR)/.clearml
CLEARML_FOLDS ?= 5
# Empty: the train: section of params.yaml decides; a number shortens every training run of the pipeline.
CLEARML_MAX_EPOCHS ?=

.PHONY: clearml-pipeline clearml-show clearml-bench

clearml-pipeline: install data ## run the article's ClearML pipeline offline; print the session folder and fold scores
	$(BIN)/python -m $(PACKAGE).pipeline run --folds $(CLEARML_FOLDS) $(if $(wildcard params.yaml),--params params.yaml) \
		$(if $(CLEARML_MAX_EPOCHS),--max-epochs $(CLEARML_MAX_EPOCHS))

clearml-show: install ## describe the newest offline ClearML session (parameters, last scalar values, artifacts)
	$(BIN)/python -m $(PACKAGE).tracking show

clearml-bench: install ## time Task.close() with ClearML's default settings and with the shipped clearml.conf
	$(BIN)/python bench/clearml_close.py

# ---- DVC pipeline (nbs/04_dvc.ipynb, nbs/04a_scores.ipynb, nbs/04b_holdout.ipynb) ----
# dvc.yaml runs its stages as `python -m mlops_tutorial.…`, so the environment's bin/ comes first on PATH.
.PHONY: pipeline

pipeline: export PATH := $(abspath $(BIN)):$(PATH)
pipeline: export MLOPS_TUTORIAL_CLEARML ?= offline
pipeline: install ## run the DVC pipeline (fetch -> evaluate; no-op when up to date); print its metrics beside the paper's
	$(BIN)/python -m $(PACKAGE).scores check-cache
	$(BIN)/dvc repro
	$(BIN)/python -m $(PACKAGE).scores report --params params.yaml

# ---- Lightning (nbs/03_lightning.ipynb, nbs/03a_train.ipynb, nbs/03b_evaluate.ipynb) ----
# The cross-validation of tutorial 03b: Lightning, RBF SVR and random forest on all rows and with duplicates grouped.
EVALUATION ?= reports/evaluation.json
EVALUATION_FOLDS ?= 5

.PHONY: evaluate bench-lightning

evaluate: install data ## cross-validate Lightning, SVR and random forest (all rows, grouped); write $(EVALUATION)
	$(BIN)/python -m $(PACKAGE).evaluate --folds $(EVALUATION_FOLDS) --out $(EVALUATION)

bench-lightning: install data ## time the Lightning Trainer against a hand-written loop (last line: ratio)
	$(BIN)/python bench/lightning_overhead.py
