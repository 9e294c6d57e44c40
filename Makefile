# pushgate: `make demo` runs the whole service on loopback; `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := redis-server docker-registry skopeo docker.io
export PYTHONPATH := $(CURDIR)

.PHONY: deps system-deps venv test lint unit demo demo-down bench openapi clean

deps: system-deps venv

# Debian packages the tests and the demo run for real (only installed when missing, as root).
system-deps:
	@missing=""; \
	for cmd in redis-server:redis-server docker-registry:docker-registry skopeo:skopeo dockerd:docker.io; do \
	  command -v $${cmd%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${cmd%%:*} ] || missing="$$missing $${cmd##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check api worker cli tests deploy
	$(VENV)/bin/ruff format --check api worker cli tests deploy
	$(VENV)/bin/mypy

test: deps lint
	$(PY) -m pytest -q tests

demo: deps
	$(PY) deploy/demo.py

# Only needed if `make demo` was killed before it could stop what it started.
demo-down:
	-@[ -f .demo/pids ] && while read -r pid; do kill -- "-$$pid" 2>/dev/null; done < .demo/pids; rm -f .demo/pids

bench: deps
	$(PY) -m tests.bench.bench_copy
	$(PY) -m tests.bench.bench_multiarch
	$(PY) -m tests.bench.bench_daemon
	$(PY) -m tests.bench.bench_cli
	$(PY) -m tests.bench.bench_big_layer

openapi: venv
	$(PY) -m api.openapi openapi.yaml

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache .mypy_cache .ruff_cache
