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


FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_CC := clang
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude \
  -Itests/c
FUZZ_HEADERS = $(wildcard include/ungil/*.h fuzz/*.h src/core/*.h) tests/c/name_rules.h
FUZZ_HARNESSES :=
FUZZ_IMAGE_SOURCES := src/core/image_codec.c src/core/image_jpeg.c \
  src/core/image_png.c

.PHONY: setup build demo test test-c test-python bench sanitize asan tsan \
  fuzz clean

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
# are left to the C tests, where LeakSanitizer is exact.  libstdc++ is
# preloaded with it so that ASan finds the real __cxa_throw for C++
# extensions that throw (matplotlib's ft2font aborts the process otherwise).
asan: setup
	$(call configure,$(ASAN_BUILD),$(ASAN_FLAGS))
	meson compile -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs
	LD_PRELOAD="$$(cc -print-file-name=libasan.so) $$(cc -print-file-name=libstdc++.so)" \
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

# libFuzzer harnesses, built with Debian's clang.  fuzz/fuzz_NAME.c is
# compiled with the core sources it needs into $(FUZZ_BUILD)/fuzz_NAME and
# run for FUZZ_SECONDS by `make fuzz-NAME` (all of them: `make fuzz`).  The
# working corpus $(FUZZ_BUILD)/corpus/NAME grows from fuzz/seeds/NAME; a
# dictionary fuzz/NAME.dict is used if present.  Crashing inputs land in
# $(FUZZ_BUILD)/NAME-crash-*, the whole output in $(FUZZ_BUILD)/fuzz_NAME.log.
# $(call fuzz_harness,name,core sources,libraries to link)
define fuzz_harness
FUZZ_HARNESSES += $(1)
.PHONY: fuzz-$(1)
$(FUZZ_BUILD)/fuzz_$(1): fuzz/fuzz_$(1).c $(2) $(FUZZ_HEADERS)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $$@ fuzz/fuzz_$(1).c $(2) $(3)
fuzz-$(1): setup $(FUZZ_BUILD)/fuzz_$(1)
	@mkdir -p $(FUZZ_BUILD)/corpus/$(1)
	@echo "fuzz-$(1): $(FUZZ_SECONDS) s, output in $(FUZZ_BUILD)/fuzz_$(1).log"
	@$(FUZZ_BUILD)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/$(1)- \
	  $(if $(wildcard fuzz/$(1).dict),-dict=fuzz/$(1).dict) \
	  $(FUZZ_BUILD)/corpus/$(1) fuzz/seeds/$(1) \
	  >$(FUZZ_BUILD)/fuzz_$(1).log 2>&1; rc=$$$$?; \
	  grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::|ERROR|SUMMARY' \
	    $(FUZZ_BUILD)/fuzz_$(1).log; exit $$$$rc
endef

$(eval $(call fuzz_harness,html,src/core/html.c src/core/url.c,-lcurl -lidn2))
$(eval $(call fuzz_harness,jpeg,$(FUZZ_IMAGE_SOURCES),-ljpeg -lturbojpeg -lspng))
$(eval $(call fuzz_harness,path,src/core/path.c))
$(eval $(call fuzz_harness,png,$(FUZZ_IMAGE_SOURCES),-ljpeg -lturbojpeg -lspng))
$(eval $(call fuzz_harness,robots,src/core/robots.c src/core/url.c,-lcurl -lidn2))
$(eval $(call fuzz_harness,url,src/core/url.c,-lcurl -lidn2))

fuzz: setup $(addprefix fuzz-,$(FUZZ_HARNESSES))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
