# make run    - run the bundled guest suite and print the results table
# make test   - ruff, then the test suite (unit tests, fault injection, every guest,
#               and the same guests in QEMU and Bochs where they can be installed)
# make bench  - a delay loop and the port-read cost against bare Unicorn, start-up against
#               `import unicorn` and QEMU's boot, timer reads and end to end against QEMU,
#               the suite and the matrix per dispatch and number of workers
# make fuzz   - a long run of the fuzzing: random guests, hostile devices and files (minutes)
# Each target sets up what it needs: a virtual environment in .venv and NASM.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Two stamps: running needs only the runtime dependencies; the dev extra
# (pytest, xdist, hypothesis, ruff and vulture, matplotlib, pip's clang for C guests) comes with the first make test.
RUN_STAMP := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

.PHONY: run test bench fuzz lint nasm qemu bochs test-tools clean

run: $(RUN_STAMP) nasm
	$(PY) -m pmtimer_harness suite

# Two pytest-xdist workers by default (CI's two cores): make test TEST_WORKERS=8, or 0 for one process.
TEST_WORKERS ?= 2

test: $(STAMP) test-tools lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP) nasm
	$(PY) benchmarks/bench_loop.py
	$(PY) benchmarks/bench_port_read.py
	$(PY) benchmarks/bench_tsc_read.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_timer_reads.py
	$(PY) benchmarks/bench_end_to_end.py
	$(PY) benchmarks/bench_commands.py
	$(PY) benchmarks/bench_flood_memory.py
	$(PY) benchmarks/bench_runaway_memory.py

# The long profile of the fuzzing (random guests, a user's hostile devices, files of every
# kind on every input path, mutated ELF guests, random bytes through both instruction decoders), and the
# instruction count checked against a per-instruction count on every bundled guest whole.
fuzz: $(STAMP) nasm
	HARNESS_FUZZ=long $(PY) -m pytest -q tests/test_fuzz_guests.py tests/test_exact_count.py tests/test_hostile_devices.py \
	  tests/test_hostile_files.py tests/test_insn_decode.py tests/test_elf_fuzz.py --hypothesis-show-statistics

# vulture at 100% confidence reports only what can never run or be used: code
# after a return, raise or break, under a condition that is always false, and
# arguments that no code reads (one kept for a signature's sake is named _like_this).
lint: $(STAMP)
	$(PY) -m ruff check harness devices asm tests benchmarks
	$(PY) -m vulture --min-confidence 100 harness devices asm tests benchmarks

# The bundled C guests need a C compiler: with none on PATH (nor $$CC), the [c] extra brings pip's clang.
$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	@if [ -z "$$CC" ] && ! command -v gcc >/dev/null 2>&1 && ! command -v clang >/dev/null 2>&1; then \
	  echo "no C compiler on PATH: installing pip's clang for the C guests (the [c] extra) ..."; \
	  $(PY) -m pip install --quiet --disable-pip-version-check -e '.[c]'; fi
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# apt-get installs what is missing where that works (as root, or through sudo):
# one line says what, apt's own output goes to a log kept only when it fails.
# $(1) is what the line names, $(2) the Debian packages.
define apt_install
if command -v apt-get >/dev/null 2>&1; then \
  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
  log=$$(mktemp "$${TMPDIR:-/tmp}/pmtimer-harness-apt-get.XXXXXX"); \
  echo "installing $(1) with apt-get ..."; \
  if { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends $(2); } >"$$log" 2>&1; \
  then rm -f "$$log"; else echo "apt-get failed; its output is in $$log"; fi; \
fi
endef

HAVE_NASM  = command -v nasm >/dev/null 2>&1 || [ -n "$$HARNESS_NASM" ]
HAVE_QEMU  = command -v qemu-system-x86_64 >/dev/null 2>&1 || [ -n "$$HARNESS_QEMU" ]
HAVE_BOCHS = command -v bochs >/dev/null 2>&1 || [ -n "$$HARNESS_BOCHS" ]
BOCHS_DEBS = bochs bochsbios vgabios bochs-term
NASM_CHECK = $(HAVE_NASM) || { echo "NASM is required: Linux 'sudo apt-get install nasm', macOS 'brew install nasm', \
  Windows 'choco install nasm' (or set HARNESS_NASM)."; exit 1; }
QEMU_NOTE  = $(HAVE_QEMU) || echo "note: QEMU is not installed, the differential check will be skipped \
  (Linux: apt-get install qemu-system-x86, macOS: brew install qemu, Windows: choco install qemu)"
BOCHS_NOTE = $(HAVE_BOCHS) || echo "note: Bochs is not installed, its differential tests will be skipped \
  (Debian/Ubuntu: apt-get install $(BOCHS_DEBS))"

# NASM assembles the guests.
nasm:
	@$(HAVE_NASM) || { $(call apt_install,nasm,nasm); }
	@$(NASM_CHECK)

# QEMU and Bochs run the differential check (tests/test_qemu.py, tests/test_bochs.py);
# without them those tests are skipped, and say so.
qemu:
	@$(HAVE_QEMU) || { $(call apt_install,qemu,qemu-system-x86); }
	@$(QEMU_NOTE)

bochs:
	@$(HAVE_BOCHS) || { $(call apt_install,bochs,$(BOCHS_DEBS)); }
	@$(BOCHS_NOTE)

# make test wants all three: one apt-get run for whichever are missing.
test-tools:
	@names=; debs=; \
	$(HAVE_NASM) || { names="$$names nasm"; debs="$$debs nasm"; }; \
	$(HAVE_QEMU) || { names="$$names qemu"; debs="$$debs qemu-system-x86"; }; \
	$(HAVE_BOCHS) || { names="$$names bochs"; debs="$$debs $(BOCHS_DEBS)"; }; \
	if [ -n "$$debs" ]; then \
	  names=$$(echo $$names | sed 's/ /, /g'); \
	  $(call apt_install,$$names,$$debs); \
	fi
	@$(NASM_CHECK)
	@$(QEMU_NOTE)
	@$(BOCHS_NOTE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
