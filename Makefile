# Every target installs what it needs first; `make test` and `make demo` work on a fresh machine.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
STUBS   := $(VENV)/stubs
# Board stubs go in separate folders: the ESP32 and STM32 packages ship the same module names.
STUB_PKGS := esp32=micropython-esp32-stubs==1.29.0.post1 stm32=micropython-stm32-stubs==1.29.0.post1
# Installed beside each port's stubs: MicroPython's cut of typeshed's stdlib, pyright's typeshed
# for the board code (typecheck/board.json).
STDLIB_STUBS := micropython-stdlib-stubs==1.29.0.post2
# Debian packages the tests and demo use: chromium (the console's browser tests), a CJK TrueType
# font (Chinese text in statement PDFs), poppler-utils (pdftotext/pdftoppm to check PDFs), qemu and
# the ARM toolchain (the emulated Cortex-M4 board). Installed with apt-get when missing.
DEBS    := chromium fonts-wqy-zenhei poppler-utils qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi socat
DEB_STAMP := $(VENV)/.debs
ONLY    ?=
PYTEST_ARGS ?=

.PHONY: install test bench lint firmware qemu-board demo clean

install: $(STAMP) $(DEB_STAMP)

$(DEB_STAMP): Makefile
	@mkdir -p $(VENV)
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@touch $@

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@for s in $(STUB_PKGS); do \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
	    --target $(STUBS)/$${s%%=*} $${s#*=} $(STDLIB_STUBS) || exit 1; done
	@touch $(STAMP)

firmware: install
	$(PY) -m host_tools.build build/mpy

# MicroPython 1.28.0 for the emulated Cortex-M4F board (board_configs/qemu_m4/), from the source
# tarballs in ../shared/deps (CONC_DEPS_DIR); cached in build/qemu_m4.
qemu-board: install
	$(PY) -m host_tools.qemu_build

test: install
	$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

bench: install
	$(PY) -m tests.bench.run $(if $(ONLY),--only $(ONLY))

lint: install
	$(VENV)/bin/ruff check protocol firmware host_tools tests
	$(PY) -m host_tools.boardcheck
	@# One pyright run per configuration of typecheck/; the warnings switch keeps the wrapper from
	@# asking PyPI for a newer version (pyright and node come installed: nothing downloads here).
	@for c in esp32 stm32 host; do echo "pyright typecheck/$$c.json"; \
	  PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(VENV)/bin/pyright -p typecheck/$$c.json || exit 1; done

demo: install
	$(PY) -m host_tools.demo

clean:
	rm -rf build
