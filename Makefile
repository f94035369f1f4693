# The front door of mlops-tutorial: `make` (or `make help`) lists every target.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Targets whose prerequisites do not depend on each other run side by side (make test: lint beside the notebooks).
MAKE_JOBS ?= 2
MAKEFLAGS += --jobs=$(MAKE_JOBS)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Keyed on the contents of pyproject.toml and requirements.lock (not their mtimes, which nbdev-export touches): edit
# the dependencies or the lock and the next `make install` reinstalls; otherwise it is a no-op.
INSTALL_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | md5sum | cut -c1-12)
# Every package's version, pinned (pip-compile; `make lock` regenerates it): make install installs within it.
LOCK := requirements.lock
TORCH_REQUIREMENT := $(shell grep -oE '"torch==[^"]+"' pyproject.toml | tr -d '"')
# The index torch comes from: empty means PyPI (the only index reachable here); the GitHub workflow sets PyTorch's
# CPU-only index, https://download.pytorch.org/whl/cpu, so it does not download PyPI's CUDA build.
TORCH_INDEX_URL ?=
PACKAGE := mlops_tutorial
NBS := nbs
NBDEV_JOBS ?= 2
PACKAGE_LINT_THRESHOLD ?= 9.5
NOTEBOOK_LINT_THRESHOLD ?= 9.0
# pylint spends its time building and inferring torch, Lightning, pandas, scikit-learn and networkx, once per process
# (each --jobs worker builds its own copy): tools/pylint_gates.py lints the package and then the notebooks (given to it
# by nbqa, which maps the messages back to cells) in one process, each against its threshold, so that the notebooks'
# run reuses what the package's run inferred (about 100 s of CPU instead of about 165 s for two runs).
PYLINT_GATES = $(BIN)/nbqa "$(abspath $(BIN))/python tools/pylint_gates.py --package $(PACKAGE) \
	--package-fail-under $(PACKAGE_LINT_THRESHOLD) --notebook-fail-under $(NOTEBOOK_LINT_THRESHOLD) --" $(NBS) --nbqa-shell
# `make check` runs the lint checks and the fast tests side by side in this many make jobs (pylint is one process).
CHECK_JOBS ?= 2
JUPYTER_PORT ?= 8888

# A directory or base URL holding winequality-red.csv and winequality-white.csv; empty means the UCI archive.
WINE_QUALITY_MIRROR ?=
export WINE_QUALITY_MIRROR
# Where fetched data lands; notebooks, tests and the CLIs all read it from here.
export WINE_QUALITY_DATA_DIR := $(CURDIR)/data/raw
export DVC_NO_ANALYTICS := 1

.PHONY: help install data export clean-nbs lint pylint check-clean check-export readme-check readme-results layers check fast-tests test format lock lab clean

# The six targets a newcomer needs first; `make` lists them, then the rest under the Makefile's `# ---- Topic ----`
# headings.
FIRST_TARGETS := install lab pipeline test check docs

help: ## list the targets: the six to start with, then the rest by topic
	@awk -v first="$(FIRST_TARGETS)" 'BEGIN { FS = ":.*## "; n = split(first, order, " "); \
		for (i = 1; i <= n; i++) wanted[order[i]] = i; heading = "Everyday checks and housekeeping" } \
	/^# ---- .* ----$$/ { heading = $$0; gsub(/^# ---- | ----$$/, "", heading); next } \
	/^[a-zA-Z_-]+:.*## / { if ($$1 in wanted) { start[wanted[$$1]] = $$2; next } \
		if (heading != shown) { rest = rest "\n" heading ":\n"; shown = heading } \
		rest = rest sprintf("  %-18s %s\n", $$1, $$2) } \
	END { print "Start here:"; for (i = 1; i <= n; i++) printf "  %-18s %s\n", order[i], start[i]; printf "%s", rest }' \
		$(MAKEFILE_LIST)

install: $(INSTALL_STAMP) ## create .venv and install the project with its dev tools (a no-op when up to date)

$(INSTALL_STAMP):
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_REQUIREMENT)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[dev,ui]"
	touch $@

# pip-compile writes the resolved versions of the dev and ui extras; the project's own line is dropped (make install
# installs it editable), and torch's local version (+cpu, as the CPU wheel is named) is dropped so that the same pin
# matches PyTorch's CPU index and PyPI alike.
lock: install ## regenerate requirements.lock, the pinned version of every package that make install installs
	$(BIN)/pip-compile --quiet --extra dev --extra ui --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file $(LOCK) pyproject.toml
	sed -i -e '/^mlops-tutorial @ /,+1d' -e 's/^torch==\([^+]*\)+cpu$$/torch==\1/' $(LOCK)

data: install ## fetch the red and white wine files and verify their checksums
	$(BIN)/mlops-tutorial fetch --colour red --colour white

export: install ## write mlops_tutorial/ from the notebooks (nbdev-export)
	$(BIN)/nbdev-export

clean-nbs: install ## strip outputs, execution counts and local metadata from the notebooks (nbdev-clean)
	$(BIN)/nbdev-clean

check-clean: install ## fail if a notebook carries outputs, execution counts or local metadata
	@tools/check-unchanged.sh "notebooks are clean (nbdev-clean)" $(NBS) $(BIN)/nbdev-clean

check-export: install | check-clean ## fail if mlops_tutorial/ is out of sync with the notebooks (after check-clean: both read nbs/)
	@tools/check-unchanged.sh "$(PACKAGE)/ matches the notebooks (nbdev-export)" $(PACKAGE) $(BIN)/nbdev-export

lint: install check-clean check-export secrets lint-workflows readme-check ## pylint the package and the notebooks (nbqa) against their thresholds
	@$(PYLINT_GATES)

pylint: install ## pylint alone: the package and the notebooks (nbqa) against their thresholds, in one process
	@$(PYLINT_GATES)

readme-check: install ## fail if the README's results or tables, or a notebook's reading time, differ from reports/ and the notebooks
	@$(BIN)/python tools/readme_results.py --check
	@$(BIN)/python bench/lesson_stats.py --check-readme > /dev/null
	@$(BIN)/python tools/layers.py --check

layers: install ## draw the package's layers and their imports into the README (tools/layers.py)
	$(BIN)/python tools/layers.py --readme

readme-results: install ## write the README's results from the committed metrics files (reports/)
	$(BIN)/python tools/readme_results.py

# The checks that rewrite files (nbdev-clean, nbdev-export) first, then make's jobs share the rest: pylint in one, the
# secrets scan, the workflow schema, the README check and the fast tests in the other (--output-sync: whole outputs).
check: install data check-clean check-export ## the quick loop: lint and the fast tests side by side (no notebooks, no training beyond a small sample)
	@$(MAKE) --no-print-directory -j$(CHECK_JOBS) --output-sync=target pylint secrets lint-workflows readme-check fast-tests

fast-tests: install data ## the fast tests alone (pytest -m "not slow")
	$(BIN)/pytest -q -m "not slow"

# The whole suite in PYTEST_JOBS processes (pytest-xdist): most slow tests wait on a child process (a fresh interpreter
# that imports torch or ClearML, a server, two DDP nodes) or on a server starting, so three workers keep two cores
# busier than two do (pytest alone, same machine: 313 s with 3 workers, 338 s with 2); the DVC tests share one
# `dvc repro` per run, built by the first worker that needs it while the others wait on a file lock (tests/dvc_tree.py).
PYTEST_JOBS ?= 3

# make test runs its prerequisites in MAKE_JOBS make jobs: pylint's one process (lint) beside the notebooks, which keep
# about one core busy; the notebooks start once the package is exported (order-only prerequisites); the site and
# pytest follow.
test: install data check-clean check-export lint notebooks ## lint, execute every notebook once (nbdev-test runner), build the site, run pytest
	$(BUILD_SITE)
	$(BIN)/pytest -n $(PYTEST_JOBS) --dist load

format: install ## format the notebooks' code with black (line length 120, through nbqa), then export the package
	$(BIN)/nbqa black --line-length 120 $(NBS)
	$(BIN)/nbdev-export

lab: install data ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --notebook-dir=$(NBS) --port=$(JUPYTER_PORT) --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(if $(JUPYTER_TOKEN),--IdentityProvider.token=$(JUPYTER_TOKEN))

clean: ## remove build outputs and caches (never data/ or your notebooks)
	rm -rf build dist *.egg-info _docs _proc .pytest_cache
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 | xargs -0 rm -rf

# ---- Linters and git hooks (nbs/02_linters.ipynb) ----
SECRETS_BASELINE := .secrets.baseline

.PHONY: secrets hooks

# nbqa's temporary copies of the notebooks (nbs/*_nbqa_ipynb.py, while `make check` lints beside this) are not files
# of the repository.
secrets: install ## fail if a file in the repository holds a secret not in .secrets.baseline (detect-secrets)
	@git ls-files -z --cached --others --exclude-standard --exclude='*_nbqa_ipynb.py' | xargs -0 $(BIN)/detect-secrets-hook --baseline $(SECRETS_BASELINE)
	@echo "ok: no secrets outside $(SECRETS_BASELINE) (detect-secrets)"

hooks: install ## install the git pre-commit hooks of .pre-commit-config.yaml (pre-commit)
	$(BIN)/pre-commit install

# ---- ClearML (nbs/05_clearml.ipynb, nbs/05b_pipeline.ipynb) ----
# Offline ClearML sessions (ClearML's whole cache) live in the project, git-ignored, instead of ~/.clearml/cache.
export CLEARML_CACHE_DIR ?= $(CURDIR)/.clearml
CLEARML_FOLDS ?= 5
# Empty: the train: section of params.yaml decides; a number shortens every training run of the pipeline.
CLEARML_MAX_EPOCHS ?=

.PHONY: clearml-pipeline clearml-show clearml-bench

clearml-pipeline: install data ## run the article's ClearML pipeline offline; print the session folder and fold scores
	$(BIN)/mlops-tutorial pipeline run --folds $(CLEARML_FOLDS) $(if $(wildcard params.yaml),--params params.yaml) \
		$(if $(CLEARML_MAX_EPOCHS),--max-epochs $(CLEARML_MAX_EPOCHS))

clearml-show: install ## describe the newest offline ClearML session (parameters, last scalar values, artifacts)
	$(BIN)/mlops-tutorial tracking show

clearml-bench: install ## time Task.close() with ClearML's default settings and with the shipped clearml.conf
	$(BIN)/python bench/clearml_close.py

# ---- DVC pipeline (nbs/04_dvc.ipynb, nbs/04d_experiments.ipynb, nbs/04a_scores.ipynb, nbs/04b_holdout.ipynb) ----
# dvc.yaml runs its stages as `mlops-tutorial COMMAND`, so the environment's bin/ comes first on PATH. Before DVC
# runs, its cache is hashed, because DVC 3 trusts read-only cache files without hashing them (a fresh clone has none).
DVC_CACHE ?= .dvc/cache
# The committed model travels with the repository: dvc-store/ is the project's default DVC remote (.dvc/config), a
# folder of about 1 MB in git. Training rounds differently on different CPUs, so a fresh clone's `make pipeline`
# restores the checkpoint that dvc.lock records from there (`dvc pull`) instead of training a slightly different one;
# `make retrain` trains on purpose and stores the new checkpoint there.
CHECKPOINT := $(shell sed -n 's/^ *checkpoint: *\([^ #]*\).*/\1/p' params.yaml)

.PHONY: pipeline retrain

pipeline: export PATH := $(abspath $(BIN)):$(PATH)
pipeline: export MLOPS_TUTORIAL_CLEARML ?= offline
pipeline: install ## run every stage of dvc.yaml, restoring the committed model (a no-op when up to date); print the metrics
	$(if $(wildcard $(DVC_CACHE)),$(BIN)/mlops-tutorial scores check-cache $(DVC_CACHE))
	$(if $(wildcard $(CHECKPOINT)),,$(BIN)/dvc pull --allow-missing train)
	$(BIN)/dvc repro
	$(BIN)/mlops-tutorial scores report --params params.yaml

retrain: export PATH := $(abspath $(BIN)):$(PATH)
retrain: export MLOPS_TUTORIAL_CLEARML ?= offline
retrain: install ## train the model again on purpose, store it in dvc-store/, rewrite reports/ and the README's results
	$(if $(wildcard $(DVC_CACHE)),$(BIN)/mlops-tutorial scores check-cache $(DVC_CACHE))
	$(BIN)/dvc repro featurize
	$(BIN)/dvc repro --force --single-item train
	$(BIN)/dvc repro
	$(BIN)/dvc push train
	$(BIN)/dvc gc --workspace --cloud --force
	$(BIN)/python tools/readme_results.py
	@echo "retrained: commit dvc.lock, reports/, README.md and dvc-store/ to share this model"

# ---- Lightning (nbs/03_lightning.ipynb, nbs/03b_train.ipynb, nbs/03c_evaluate.ipynb) ----
# The cross-validation of tutorial 03c is the pipeline's evaluate stage: its settings are the evaluate: and train:
# sections of params.yaml, its result paths.evaluation; DVC caches it, and `dvc metrics diff` compares it.
.PHONY: evaluate bench-lightning

evaluate: export PATH := $(abspath $(BIN)):$(PATH)
evaluate: install ## cross-validate Lightning, SVR and random forest, all rows and duplicates grouped (dvc repro evaluate)
	$(BIN)/dvc repro evaluate

bench-lightning: install data ## time the Lightning Trainer against a hand-written loop (last line: ratio)
	$(BIN)/python bench/lightning_overhead.py

# ---- Docs and browser tests ----
# Each notebook is executed once per run: `make test` (and `make notebooks`) runs each in a fresh kernel (nbclient,
# tools/execute_notebooks.py), nbs/ as the working directory, and keeps the executed copies in $(EXECUTED_NBS); `make docs` renders those copies
# with Sphinx + myst-nb (execution off) into $(SITE). Everything lands in the git-ignored $(BUILD).
BUILD ?= _build
EXECUTED_NBS := $(BUILD)/executed
# Keyed on the contents of the notebooks and the package (nbdev-export rewrites every module, so mtimes say nothing).
EXECUTED_STAMP := $(EXECUTED_NBS)/.executed-$(shell cat $(NBS)/*.ipynb $(sort $(shell find $(PACKAGE) -name "*.py")) 2>/dev/null | md5sum | cut -c1-12)
SITE_SRC := $(BUILD)/site-src
SITE := $(BUILD)/html
DOCS_JOBS ?= 2
DOCS_PORT ?= 8000
RUN_NOTEBOOKS = rm -f $(EXECUTED_NBS)/.executed-* \
	&& $(BIN)/python tools/execute_notebooks.py --out $(EXECUTED_NBS) --n-workers $(NBDEV_JOBS) --do-print --timing \
	&& touch $(EXECUTED_STAMP)
BUILD_SITE = $(BIN)/python tools/docs_source.py --executed $(EXECUTED_NBS) --out $(SITE_SRC) \
	&& $(BIN)/sphinx-build -b html -c docs -d $(BUILD)/doctrees -j $(DOCS_JOBS) -q -W --keep-going $(SITE_SRC) $(SITE) \
	&& echo "site: $(SITE)/index.html"

.PHONY: notebooks docs docs-serve test-lab lesson-stats lint-workflows

notebooks: install data | check-clean check-export ## execute every notebook once (nbdev-test's runner); executed copies in _build/executed
	$(RUN_NOTEBOOKS)

# The executed copies are current while the notebooks and the package hold what they held at the last run.
$(EXECUTED_STAMP):
	$(MAKE) --no-print-directory notebooks

docs: install $(EXECUTED_STAMP) ## build the site of the executed notebooks in _build/html (runs them only if changed)
	$(BUILD_SITE)

docs-serve: docs ## serve the site on localhost, port DOCS_PORT (default 8000); Ctrl-C stops it
	$(BIN)/python -m http.server --directory $(SITE) --bind 127.0.0.1 $(DOCS_PORT)

test-lab: install data ## run every notebook in JupyterLab in headless Chromium (`make lab`), one result each
	MLOPS_TUTORIAL_LAB_NOTEBOOKS=all $(BIN)/pytest tests/test_lab.py -v -rA --timeout 3600

lesson-stats: install ## print each notebook's reading time (words/200 + code lines/20); write it into the notebooks' Time lines and the README
	$(BIN)/python bench/lesson_stats.py --readme

lint-workflows: install ## validate .github/workflows/*.yml against the GitHub workflow schema (check-jsonschema)
	@$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# ---- Past one laptop (nbs/03d, 03e, 04c, 05c) ----
# Everything these targets write lands in $(RUNS) (git-ignored). The servers listen on 127.0.0.1 and run in the
# foreground: Ctrl-C stops them with every process they started.
RUNS ?= runs
RED_WINE := $(WINE_QUALITY_DATA_DIR)/winequality-red.csv
SHORT_RUN_FLAGS ?= --max-epochs 50 --ensemble-size 1
TENSORBOARD_PORT ?= 6006
MLFLOW_PORT ?= 5000
S3_PORT ?= 9000

.PHONY: train-two-nodes slurm-script tensorboard mlflow-ui remote-server venv-size

train-two-nodes: install data ## train on two torchrun nodes over 127.0.0.1 (gloo), outputs in runs/two-nodes/
	$(BIN)/mlops-tutorial cluster nodes --nnodes 2 -- --data $(RED_WINE) --params params.yaml \
		--checkpoint $(RUNS)/two-nodes/model.ckpt --metrics $(RUNS)/two-nodes/metrics.json

slurm-script: install ## print an sbatch script that runs the training command on 2 nodes with srun
	@$(BIN)/mlops-tutorial cluster slurm --nodes 2 --tasks-per-node 1 -- --data data/raw/winequality-red.csv \
		--params params.yaml --checkpoint models/wine.ckpt --metrics reports/train.json

$(RUNS)/logs/tensorboard:
	$(BIN)/mlops-tutorial train --data $(RED_WINE) $(SHORT_RUN_FLAGS) --log-dir $(RUNS)/logs \
		--checkpoint $(RUNS)/logs/model.ckpt --metrics $(RUNS)/logs/metrics.json

tensorboard: install data $(RUNS)/logs/tensorboard ## serve TensorBoard on a training run's logs at 127.0.0.1:6006
	$(BIN)/tensorboard --logdir $(RUNS)/logs --host 127.0.0.1 --port $(TENSORBOARD_PORT)

mlflow-ui: install data ## log a training run to a local MLflow server and serve its UI at 127.0.0.1:5000
	$(BIN)/mlops-tutorial mlflow serve --store $(RUNS)/mlflow/mlflow.db --port $(MLFLOW_PORT) \
		--train --run-name make-mlflow-ui -- --data $(RED_WINE) $(SHORT_RUN_FLAGS)

remote-server: install ## serve runs/s3-store as an S3 service at 127.0.0.1:9000 and print the dvc remote commands
	$(BIN)/mlops-tutorial s3-server --root $(RUNS)/s3-store --port $(S3_PORT)

venv-size: install ## print the environment's installed size, with and without the ui extra (MLflow)
	$(BIN)/python bench/venv_size.py

# ---- Serving and monitoring (nbs/06_serve.ipynb) ----
# `make serve` serves the checkpoint and featurizer of `make pipeline` (paths: in params.yaml) on 127.0.0.1 in the
# foreground; Ctrl-C stops it. Every answer is appended to $(REQUEST_LOG) (git-ignored), which `make monitor` reads.
SERVE_PORT ?= 8000
REQUEST_LOG ?= $(RUNS)/requests.jsonl
MONITOR_CURRENT ?= $(REQUEST_LOG)

.PHONY: serve monitor bench-serve

serve: install ## serve the pipeline's model at 127.0.0.1:SERVE_PORT (default 8000) until Ctrl-C; log to REQUEST_LOG
	$(BIN)/mlops-tutorial serve --params params.yaml --port $(SERVE_PORT) --log $(REQUEST_LOG)

monitor: install data ## measure the drift monitor on red and white batches; report on MONITOR_CURRENT if it exists
	$(BIN)/mlops-tutorial monitor rates --params params.yaml \
		--white $(WINE_QUALITY_DATA_DIR)/winequality-white.csv --out $(RUNS)/monitor-rates.json
	$(if $(wildcard $(MONITOR_CURRENT)),$(BIN)/mlops-tutorial monitor check --params params.yaml \
		--current $(MONITOR_CURRENT) --out $(RUNS)/drift.json,@echo "no $(MONITOR_CURRENT) yet: make serve and send it wines")

bench-serve: install data ## measure bare FastAPI, the model behind FastAPI and behind LitServe at 1, 8, 32 clients
	$(BIN)/python bench/serve.py
