# Everything installs itself: a venv with the pinned tools, and Debian's
# tshark where it is missing. Targets: test (the README's test command),
# run (the main command), bench, mpy, setup, clean.
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt | cksum | cut -d' ' -f1)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test run bench mpy tshark clean

$(STAMP): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

tshark:
	@command -v tshark >/dev/null 2>&1 || { \
	  echo "installing tshark (Debian package)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tshark >/dev/null; }

setup: $(STAMP) tshark

# pytest covers: codec/engine/store/link units, property tests, the
# MicroPython differential pass (-X heapsize=164K), heap-lock proof, every
# scenario on both runtimes with tshark checks, and the mpy-cross compile.
test: setup
	$(VPY) -m pytest -q host_tests
	$(VPY) -m tools.mpy_build build/mpy

run: setup
	$(VPY) -m tools.bench run scenarios/demo-day.json --runtime micropython --out out/demo --live --pace 3600

bench: setup
	$(VPY) -m tools.benchmarks

mpy: setup
	$(VPY) -m tools.mpy_build build/mpy -v

clean:
	rm -rf build out .pytest_cache .hypothesis
