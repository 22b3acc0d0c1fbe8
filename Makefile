# Ilmo — the two commands a newcomer needs are `make run` and `make test`.
# Everything else here is a smaller step of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV ?= uv
PYTEST_ARGS ?=

# CLUSTER=3: the broker is a cluster of three local RabbitMQ nodes
# (deploy/local/cluster.sh, ports 5681-5683, data in .local/cluster) instead
# of the single node on 5672. `make run CLUSTER=3` gives the services all
# three URLs; `make test-chaos CLUSTER=3` runs the chaos run on a cluster of its own.
CLUSTER ?=
ifneq ($(strip $(CLUSTER)),)
ifneq ($(filter run infra stop status,$(MAKECMDGOALS)),)
export ILMO_CLUSTER_NODES := $(CLUSTER)
export ILMO_AMQP_URL := $(shell ILMO_CLUSTER_NODES=$(CLUSTER) deploy/local/cluster.sh urls)
export ILMO_RABBITMQ_MANAGEMENT_URL := http://127.0.0.1:15681
export ILMO_RABBITMQ_MANAGEMENT_PORT := 15681
endif
endif

.PHONY: help run stop status test setup infra infra-down lint typecheck pytest \
        test-unit test-integration test-e2e test-deploy test-chaos test-chaos-short \
        test-chaos-cluster-short contracts openapi client client-check \
        bench browser promtool hls-tools hls-origin screenshots messages kubernetes-tools \
        player-vendor \
        test-kubernetes containers image audit alert-rules

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

run: setup infra ## Start RabbitMQ, FerretDB, Redis, the mail sink, Prometheus and the four services (supervised: restarted if they die); Ctrl-C stops all
	deploy/local/run.sh start

stop: ## Stop the services, their supervisord and whatever infrastructure `make run` (or `make hls-origin`) started (CLUSTER=3: the cluster too)
	deploy/local/run.sh stop
	deploy/local/hls-origin.sh down
	deploy/local/infra.sh down
	$(if $(strip $(CLUSTER)),deploy/local/cluster.sh down)

status: ## The infrastructure, and each service as supervisord sees it (RUNNING, BACKOFF, FATAL, ...)
	@rc=0; $(if $(strip $(CLUSTER)),deploy/local/cluster.sh status || rc=1;) deploy/local/infra.sh status || rc=1; deploy/local/run.sh status || rc=1; exit $$rc

test: setup infra browser containers image audit kubernetes-tools client lint typecheck client-check pytest test-chaos-short test-chaos-cluster-short ## The whole suite: ruff, mypy, the TypeScript client's tsc and drift check, pytest (unit, integration, e2e), two short chaos runs (one node; three nodes with two replicas of each service)

setup: ## Install uv if missing and the locked Python dependencies
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet 'uv>=0.5'
	$(UV) sync --frozen --all-packages

infra: ## Start (or reuse) RabbitMQ (CLUSTER=3: three clustered nodes), FerretDB, Redis, the SMTP sink and Prometheus (with promtool)
	$(if $(strip $(CLUSTER)),deploy/local/cluster.sh up)
	deploy/local/infra.sh up

browser: ## Install Debian's chromium if missing: the browser tests and `make screenshots` drive it
	deploy/local/browser.sh

containers: ## Install podman (with runc), mmdebstrap and uidmap if missing: the image's build and smoke test need them
	deploy/image/tools.sh

image: containers ## Build the container image localhost/ilmo:dev (on a Debian base made locally; deploy/image/README.md)
	deploy/image/build.sh

audit: setup ## pip-audit over the lock: fails on a known vulnerability, says NOT AUDITED when no service answers
	deploy/image/audit.sh

infra-down: ## Stop what `make infra` started
	deploy/local/infra.sh down

kubernetes-tools: ## Build the pinned helm and kubeconform into .tools/bin (Go modules; once)
	deploy/kubernetes/tools.sh

test-kubernetes: setup kubernetes-tools ## The Helm chart: helm lint, helm template, kubeconform -strict offline, checks against the code
	$(UV) run --frozen pytest tests/deploy/test_kubernetes.py $(PYTEST_ARGS)

lint: ## ruff: lint and formatting
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

typecheck: ## mypy --strict over services, shared and tests
	$(UV) run --frozen mypy .

promtool: ## Install Debian's prometheus package if promtool is missing: the deployment tests check PromQL with it
	deploy/local/promtool.sh

hls-tools: ## Install Debian's nginx (with secure_link) and ffmpeg if missing: the HLS origin's tests run them
	deploy/local/hls-tools.sh

hls-origin: ## Start (or reuse) the local HLS origin for signed playback on 127.0.0.1:8090, serving .local/hls/streams (docs/operations.md)
	deploy/local/hls-origin.sh up

pytest: browser containers kubernetes-tools promtool client hls-tools ## pytest over every layer (needs `make infra`)
	$(UV) run --frozen pytest tests $(PYTEST_ARGS)

test-unit: setup ## Fast unit tests, no infrastructure
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

test-integration: setup infra hls-tools ## Integration tests against real RabbitMQ and FerretDB (and the HLS origin: nginx, ffmpeg)
	$(UV) run --frozen pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup infra browser containers client ## End-to-end tests: the services as processes
	$(UV) run --frozen pytest tests/e2e $(PYTEST_ARGS)

test-deploy: setup promtool kubernetes-tools ## The deployment files checked by their own tools (dashboards, alert rules); no infrastructure
	$(UV) run --frozen pytest tests/deploy $(PYTEST_ARGS)

CHAOS_ARGS ?= --seed 7 --registrations 2000 --concurrency 16 --faults 30
CHAOS_SHORT_ARGS ?= --seed 11 --registrations 100 --concurrency 16 --faults 6

CHAOS_CLUSTER = $(if $(strip $(CLUSTER)),--cluster $(CLUSTER))

test-chaos: setup infra ## Full chaos run: load while services, broker and database are killed (CHAOS_ARGS=...; CLUSTER=3: on three broker nodes; CHAOS_ARGS="... --replicas 2": two of each service)
	$(UV) run --frozen python -m tests.chaos.run $(CHAOS_CLUSTER) $(CHAOS_ARGS)

test-chaos-short: setup infra ## The short chaos run that `make test` includes (about 2 minutes)
	$(UV) run --frozen python -m tests.chaos.run $(CHAOS_CLUSTER) $(CHAOS_SHORT_ARGS)

test-chaos-cluster-short: setup infra ## The short chaos run on a three-node broker cluster of its own and two replicas of every service, one node or one replica killed at a time (`make test` includes it)
	$(UV) run --frozen python -m tests.chaos.run --cluster 3 --replicas 2 $(CHAOS_SHORT_ARGS)

BENCH_ARGS ?= --mode closed --concurrency 32 --registrations 5000 --seats 300 --runs 3

bench: setup infra ## Benchmark: the pipeline end to end vs the broker baseline (BENCH_ARGS=...; docs/performance.md)
	$(UV) run --frozen python -m bench.run $(BENCH_ARGS)

alert-rules: infra ## promtool: check the alert rules and run their unit tests (deploy/prometheus)
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.yml

contracts: setup ## Regenerate the JSON Schemas, the AsyncAPI document and the registration API's OpenAPI document in contracts
	$(UV) run --frozen ilmo-contracts
	$(UV) run --frozen python -m ilmo_registration.openapi

# The TypeScript client of the registration API (clients/typescript): its npm
# packages exactly as its package-lock.json pins them. npm ci runs again only
# when the lock or package.json changed (the stamp is inside node_modules,
# which npm ci removes first).
CLIENT_DIR = clients/typescript
CLIENT_INSTALLED = $(CLIENT_DIR)/node_modules/.installed

client: $(CLIENT_INSTALLED) ## Install the TypeScript client's locked npm packages (npm ci; needs Node.js >= 20.11 and npm)

$(CLIENT_INSTALLED): $(CLIENT_DIR)/package.json $(CLIENT_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js 20.11 or later with npm" >&2; exit 1; }
	cd $(CLIENT_DIR) && npm ci --no-audit --no-fund
	touch $@

client-check: client ## The TypeScript client: tsc (strict) and its generated types equal to a fresh generation from contracts/openapi.json
	cd $(CLIENT_DIR) && npm run check

# The streaming service's player page plays HLS with hls.js, vendored from npm
# exactly as services/streaming/player/package-lock.json pins it. The copies
# are committed, so only refreshing them needs npm: change the version in
# package.json, `npm install --package-lock-only` there, then this target, and
# the version in the vendored README.md.
PLAYER_DIR = services/streaming/player
PLAYER_VENDOR = services/streaming/src/ilmo_streaming/static/vendor/hls.js

player-vendor: ## Refresh the player page's vendored hls.js (npm ci in services/streaming/player, then copy hls.min.js and LICENSE)
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js 20.11 or later with npm" >&2; exit 1; }
	cd $(PLAYER_DIR) && npm ci --no-audit --no-fund
	cp $(PLAYER_DIR)/node_modules/hls.js/dist/hls.min.js $(PLAYER_DIR)/node_modules/hls.js/LICENSE $(PLAYER_VENDOR)/
	@echo "hls.js $$(cd $(PLAYER_DIR) && node -p 'require("./node_modules/hls.js/package.json").version') copied into $(PLAYER_VENDOR)"

openapi: setup client ## Regenerate contracts/openapi.json from the registration service's app, and the TypeScript client's types from it
	$(UV) run --frozen python -m ilmo_registration.openapi
	cd $(CLIENT_DIR) && npm run generate

screenshots: setup infra browser ## PNGs of every page at 375 and 1280 px in fi/sv/en, under .local/screenshots/
	$(UV) run --frozen python -m tests.screenshots

# Every package with a locale/ folder has gettext catalogues (ilmo_shared.i18n).
LOCALES = $(wildcard contracts/src/*/locale shared/src/*/locale services/*/src/*/locale)
LANGUAGES = fi sv

messages: setup ## Extract each package's texts (babel.cfg) and update its fi/sv catalogues
	@mkdir -p .local/messages
	for locale in $(LOCALES); do \
	  package=$$(dirname "$$locale"); template=.local/messages/$$(basename "$$package").pot; \
	  $(UV) run --frozen pybabel --quiet extract -F babel.cfg --sort-output --add-location file \
	    --project Ilmo -o "$$template" "$$package"; \
	  for language in $(LANGUAGES); do \
	    $(UV) run --frozen pybabel --quiet update -i "$$template" -d "$$locale" -D messages \
	      -l "$$language" --init-missing --ignore-obsolete; \
	  done; \
	done

.PHONY: compose-secrets
compose-secrets: setup ## The compose stack's secrets and development CA, once, into deploy/compose/secrets (deploy/compose/README.md)
	deploy/compose/secrets.sh
