# pushgate: `make demo` runs the whole service on loopback; `make test` runs every check.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := redis-server redis-sentinel docker-registry skopeo docker.io kubernetes-client chromium mmdebstrap docker-compose
export PYTHONPATH := $(CURDIR)
# One version for both distributions, written in pushgate_cli/__init__.py.
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' pushgate_cli/__init__.py)
# `make image` tags both; docker-compose.yml runs pushgate:latest.
IMAGE_TAGS := pushgate:$(VERSION) pushgate:latest
# The image's base: any image with Debian's or python.org's python3 (3.11, as the wheels).
BASE ?= python:3.11-slim
WHEELS := build/wheels
# pip wheel resolves for the host's Python; the image's may be older. redis needs
# async-timeout before Python 3.11.3, and Debian 12's python3 is 3.11.2.
IMAGE_EXTRA_WHEELS := async-timeout>=4.0.3

.PHONY: deps system-deps venv test lint unit demo demo-up demo-down bench openapi clean wheels image print-image-tags

deps: system-deps venv

# Debian packages the tests and the demo run for real (only installed when missing, as root).
system-deps:
	@missing=""; \
	for cmd in redis-server:redis-server redis-sentinel:redis-sentinel docker-registry:docker-registry skopeo:skopeo dockerd:docker.io kubectl:kubernetes-client chromium:chromium mmdebstrap:mmdebstrap docker-compose:docker-compose; do \
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

# Both distributions, editable: the server with the dev tools (root) and the client (client/).
$(VENV)/.installed: pyproject.toml client/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./client -e '.[dev]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check api worker pushgate_cli tests deploy gunicorn.conf.py
	$(VENV)/bin/ruff format --check api worker pushgate_cli tests deploy gunicorn.conf.py
	$(VENV)/bin/mypy

test: deps lint
	$(PY) -m pytest -q tests

demo: deps
	$(PY) deploy/demo.py

# The demo stack stays up (for the pushes page at /ui/) until `make demo-down`.
demo-up: deps
	@if [ -f .demo/pids ]; then echo "a demo is already up: make demo-down first"; exit 1; fi
	@setsid $(PY) deploy/demo.py --up > .demo.log 2>&1 < /dev/null & echo $$! > .demo.pid
	@for i in $$(seq 1 600); do \
	  if [ -f .demo/ready ]; then cat .demo/ready; echo "stop it with: make demo-down"; exit 0; fi; \
	  if ! kill -0 "$$(cat .demo.pid)" 2>/dev/null; then echo "demo failed:"; tail -n 30 .demo.log; exit 1; fi; \
	  sleep 0.5; \
	done; echo "demo not ready after 300 s (log: .demo.log)"; exit 1

# Stops `make demo-up`, or what a killed `make demo` left.
demo-down:
	-@[ -f .demo/pids ] && while read -r pid; do kill -- "-$$pid" 2>/dev/null; done < .demo/pids; \
	  for i in $$(seq 1 40); do [ -f .demo/pids ] || break; sleep 0.5; done; rm -f .demo/pids .demo.pid

bench: deps
	$(PY) -m tests.bench.bench_copy
	$(PY) -m tests.bench.bench_multiarch
	$(PY) -m tests.bench.bench_daemon
	$(PY) -m tests.bench.bench_cli
	$(PY) -m tests.bench.bench_wan
	$(PY) -m tests.bench.bench_skopeo
	$(PY) -m tests.bench.bench_concurrency
	$(PY) -m tests.bench.bench_big_layer
	$(PY) -m tests.bench.bench_targets
	$(PY) -m tests.bench.bench_signed
	$(PY) -m tests.bench.bench_api
	$(PY) -m tests.bench.bench_chat_plan

# Wheels of both distributions and of every dependency, for `make image` (and offline installs).
wheels:
	rm -f $(WHEELS)/pushgate-*.whl $(WHEELS)/pushgate_server-*.whl
	$(PY) -m pip wheel -q --disable-pip-version-check -w $(WHEELS) ./client . '$(IMAGE_EXTRA_WHEELS)'

# The container image, from the wheels only: the build itself needs no network.
# BASE=IMAGE picks the base; DOCKER_HOST picks the daemon. The classic builder: Debian's
# docker.io has no buildx.
image: wheels
	DOCKER_BUILDKIT=0 docker build -q --network=none --build-arg BASE=$(BASE) \
	  $(foreach tag,$(IMAGE_TAGS),-t $(tag)) -f deploy/Dockerfile .

print-image-tags:
	@echo $(IMAGE_TAGS)

openapi: venv
	$(PY) -m api.openapi openapi.yaml

clean:
	rm -rf $(VENV) .demo .demo.log .demo.pid .bench .artifacts .pytest_cache .mypy_cache .ruff_cache
