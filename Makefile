# koprogo.storage developer entry points. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
CACHE := $(ROOT)/.cache
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
PYTHON ?= python3
COLLECTION_LINK := $(CACHE)/collections/ansible_collections/koprogo/storage

export PATH := $(BIN):$(CACHE)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CACHE)/collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export KOPROGO_CACHE := $(CACHE)
PYTEST := $(BIN)/pytest -p no:cacheprovider

.PHONY: help setup system-deps minio compose collection test test-unit test-integration test-molecule test-luks \
        lint sanity build bench demo demo-destroy clean

help: ## List targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: $(VENV)/.installed collection ## Python venv with pinned requirements, collection link

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-virtualenv -r requirements.txt
	touch $@

collection: $(COLLECTION_LINK) ## Expose this checkout as koprogo.storage
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(ROOT) $@

system-deps: ## Debian packages the tests use (apt)
	bash tests/tools/system-deps.sh

minio: ## Build (or reuse) the pinned MinIO server and mc from source
	bash tests/tools/build-minio.sh

compose: ## Build (or reuse) the pinned Docker Compose v2 CLI plugin from source (`docker compose`)
	bash tests/tools/build-compose.sh

test: setup system-deps minio ## Everything CI runs (the LUKS VM scenario and the integration builds run beside the other suites)
	bash tests/tools/make-test.sh

test-unit: setup ## Unit tests (pure functions, mocked SDK; the S3 guard plugin's Go tests)
	$(PYTEST) tests/unit
	cd roles/traefik/files/s3guard && GOFLAGS=-mod=mod go test -count=1 ./...

test-integration: setup system-deps minio ## Modules and roles against real servers (the compose tests build `docker compose` themselves)
	$(PYTEST) --durations=15 tests/integration

test-molecule: setup system-deps ## Molecule scenario `default` (systemd container)
	@if [ -f molecule/default/molecule.yml ]; then bash tests/tools/run-molecule.sh default; else echo "molecule default: not present yet"; fi

test-luks: setup system-deps minio ## Molecule scenario `luks` (qemu/TCG VM, dm-crypt, two reboots)
	@if [ -f molecule/luks/molecule.yml ]; then bash tests/tools/run-molecule.sh luks; else echo "molecule luks: not present yet"; fi

# ansible-lint puts the collections of its cache ($$ANSIBLE_HOME, else ~/.ansible) before ours: a
# private cache keeps a stale copy of this collection, left there by another tool, from shadowing it.
lint: setup ## ansible-lint, yamllint, ruff
	$(BIN)/ruff check plugins tests bench roles/backup/files
	$(BIN)/yamllint -s .
	ANSIBLE_HOME=$(CACHE)/ansible-lint-home $(BIN)/ansible-lint --offline -q

SANITY_VENV := $(CACHE)/sanity-venv
$(SANITY_VENV)/.installed: requirements.txt
	@test -x $(SANITY_VENV)/bin/python || $(PYTHON) -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install --quiet "$$(grep '^ansible-core==' requirements.txt)"
	touch $@

sanity: setup system-deps $(SANITY_VENV)/.installed ## ansible-test sanity on a temporary collection tree
	PATH=$(SANITY_VENV)/bin:$$PATH bash tests/tools/sanity.sh

build: setup ## Build the collection tarball
	$(BIN)/ansible-galaxy collection build --force --output-path $(CACHE)/dist .

bench: setup system-deps minio ## Benchmarks (ratios side by side), results in docs/benchmarks.md
	bash bench/run.sh

demo: setup ## Converge the full stack onto a local disposable target
	bash tests/tools/demo.sh up

demo-destroy: ## Remove the demo target
	bash tests/tools/demo.sh down

clean: ## Remove venv and caches (MinIO builds included)
	rm -rf $(VENV) $(CACHE)
