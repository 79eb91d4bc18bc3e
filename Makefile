# ungil's commands.  `make demo` and `make test` each do their own set-up
# (Debian packages, the .venv virtual environment, the build), so each works
# alone on a fresh machine.

SHELL := /bin/bash
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
STAMP := $(VENV)/.setup-done

BUILD := build
ASAN_BUILD := build-asan
TSAN_BUILD := build-tsan
ASAN_FLAGS := -Db_sanitize=address,undefined -Db_lundef=false
TSAN_FLAGS := -Db_sanitize=thread -Dpython=false


.PHONY: setup build demo test test-c test-python bench sanitize asan tsan clean

setup: $(STAMP)

$(STAMP): pyproject.toml tools/setup-system.sh tools/deps.py
	bash tools/setup-system.sh
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q meson ninja meson-python $$($(PY) tools/deps.py test bench)
	touch $@

# $(call configure,dir,options)
define configure
	@if [ ! -f $(1)/build.ninja ]; then meson setup $(1) $(2); fi
endef

build: setup
	$(call configure,$(BUILD),)
	meson compile -C $(BUILD)

demo: build
	PYTHONPATH=$(CURDIR)/$(BUILD)/python $(PY) -m ungil.demo --out ungil-demo

test: test-c test-python

test-c: build
	meson test -C $(BUILD) --print-errorlogs

test-python: build
	PYTHONPATH=$(CURDIR)/$(BUILD)/python UNGIL_BUILD=$(CURDIR)/$(BUILD) \
	  $(PY) -m pytest

bench: build
	PYTHONPATH=$(CURDIR)/$(BUILD)/python UNGIL_BUILD=$(CURDIR)/$(BUILD) \
	  $(PY) bench/run.py

sanitize: asan tsan

# ASan+UBSan: the C tests, then pytest against the instrumented extension.
# The interpreter is not instrumented, so ASan is preloaded and leak checks
# are left to the C tests, where LeakSanitizer is exact.
asan: setup
	$(call configure,$(ASAN_BUILD),$(ASAN_FLAGS))
	meson compile -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs
	LD_PRELOAD=$$(cc -print-file-name=libasan.so) \
	  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  PYTHONMALLOC=malloc PYTHONPATH=$(CURDIR)/$(ASAN_BUILD)/python \
	  UNGIL_BUILD=$(CURDIR)/$(ASAN_BUILD) UNGIL_SANITIZER=asan \
	  $(PY) -m pytest -p no:cacheprovider -m "not packaging"

# TSan: the C tests of the pool and of what runs on it.
tsan: setup
	$(call configure,$(TSAN_BUILD),$(TSAN_FLAGS))
	meson compile -C $(TSAN_BUILD)
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  meson test -C $(TSAN_BUILD) --print-errorlogs

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
