# make run    - run the bundled guest suite and print the results table
# make test   - ruff, then the test suite (unit tests, fault injection, every guest,
#               and the same guests in QEMU and Bochs where they can be installed)
# make bench  - the port-read cost against a bare Unicorn hook, start-up against
#               `import unicorn` and QEMU's boot, end to end against QEMU
# make fuzz   - a long run of the fuzzing: random guests, hostile devices and files (minutes)
# Each target sets up what it needs: a virtual environment in .venv and NASM.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Two stamps: running needs only the runtime dependencies; the test extra
# (pytest, xdist, hypothesis, ruff, vulture, matplotlib) comes with the first make test.
RUN_STAMP := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

.PHONY: run test bench fuzz lint nasm qemu bochs clean

run: $(RUN_STAMP) nasm
	$(PY) -m pmtimer_harness suite

test: $(STAMP) nasm qemu bochs lint
	$(PY) -m pytest -q

bench: $(STAMP) nasm
	$(PY) benchmarks/bench_port_read.py
	$(PY) benchmarks/bench_tsc_read.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_end_to_end.py
	$(PY) benchmarks/bench_flood_memory.py
	$(PY) benchmarks/bench_runaway_memory.py

# The long profile of the fuzzing (random guests, a user's hostile devices, files of every
# kind on every input path), and the instruction count checked against a per-instruction
# count on every bundled guest whole.
fuzz: $(STAMP) nasm
	HARNESS_FUZZ=long $(PY) -m pytest -q tests/test_fuzz_guests.py tests/test_exact_count.py tests/test_hostile_devices.py \
	  tests/test_hostile_files.py --hypothesis-show-statistics

# vulture at 100% confidence reports only what can never run or be used: code
# after a return, raise or break, under a condition that is always false, and
# arguments that no code reads (one kept for a signature's sake is named _like_this).
lint: $(STAMP)
	$(PY) -m ruff check harness devices asm tests benchmarks
	$(PY) -m vulture --min-confidence 100 harness devices asm tests benchmarks

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# NASM assembles the guests.  apt-get installs it where that works (as root,
# or through sudo); elsewhere the message says how.
nasm:
	@command -v nasm >/dev/null 2>&1 || [ -n "$$HARNESS_NASM" ] || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	    echo "installing NASM with apt-get"; \
	    $$SUDO apt-get update -qq >/dev/null 2>&1; \
	    $$SUDO apt-get install -y -qq nasm >/dev/null 2>&1 || true; \
	  fi; \
	  command -v nasm >/dev/null 2>&1 || { \
	    echo "NASM is required: Linux 'sudo apt-get install nasm', macOS 'brew install nasm', Windows 'choco install nasm' (or set HARNESS_NASM)."; \
	    exit 1; }; }

# QEMU runs the differential check (tests/test_qemu.py); without it those
# tests are skipped, and say so.  apt-get installs it where that works.
qemu:
	@command -v qemu-system-x86_64 >/dev/null 2>&1 || [ -n "$$HARNESS_QEMU" ] || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	    echo "installing QEMU with apt-get (for the differential check)"; \
	    $$SUDO apt-get update -qq >/dev/null 2>&1; \
	    $$SUDO apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null 2>&1 || true; \
	  fi; \
	  command -v qemu-system-x86_64 >/dev/null 2>&1 || \
	    echo "note: QEMU is not installed, the differential check will be skipped (Linux: apt-get install qemu-system-x86, macOS: brew install qemu, Windows: choco install qemu)"; }

# Bochs is the differential check's second peer (tests/test_bochs.py); without
# it those tests are skipped, and say so.  apt-get installs it where that works.
bochs:
	@command -v bochs >/dev/null 2>&1 || [ -n "$$HARNESS_BOCHS" ] || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	    echo "installing Bochs with apt-get (for the differential check)"; \
	    $$SUDO apt-get update -qq >/dev/null 2>&1; \
	    $$SUDO apt-get install -y -qq --no-install-recommends bochs bochsbios vgabios bochs-term >/dev/null 2>&1 || true; \
	  fi; \
	  command -v bochs >/dev/null 2>&1 || \
	    echo "note: Bochs is not installed, its differential tests will be skipped (Debian/Ubuntu: apt-get install bochs bochsbios vgabios bochs-term)"; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
