# x400p1 -- X.400 P1 over RFC 1006 as a static C11 library.
#
#   make            build/libx400p1.a (release, hidden internal symbols)
#   make check      every test suite under ASan+UBSan (SAN=thread: TSan)
#   make demo       build and run the example programs
#   make bench      optimised benchmarks, `bench: NAME VALUE UNIT` lines
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (clang)
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install/verify build dependencies (Debian 12)
#
# Modules are discovered: lib/*.c, asn1/*.asn1, test/check_<m>.c (one Check
# suite each), test/helper_*.c (programs tests run), bench/bench_<m>.c,
# test/fuzz/fuzz_<t>.c (+ corpus in test/fuzz/corpus/<t>/), examples/*.c.

PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
SAN     ?= address
WERROR  ?= 1
FUZZ_SECONDS ?= 60
NPROC   := $(shell nproc 2>/dev/null || echo 2)
LD      ?= ld
OBJCOPY ?= objcopy
NM      ?= nm
AR      ?= ar

B := build

LIB_SRC   := $(sort $(wildcard lib/*.c))
LIB_HDR   := $(wildcard lib/*.h include/x400p1/*.h)
PUB_HDR   := $(sort $(wildcard include/x400p1/*.h))
ASN1_SRC  := $(sort $(wildcard asn1/*.asn1))
TEST_SRC  := $(sort $(wildcard test/check_*.c))
TEST_HELP := $(sort $(wildcard test/helper_*.c))
TEST_SUPP := $(sort $(wildcard test/support_*.c))
BENCH_SRC := $(sort $(filter-out bench/bench_main.c,$(wildcard bench/bench_*.c)))
FUZZ_SRC  := $(sort $(wildcard test/fuzz/fuzz_*.c))
FUZZ_T    := $(patsubst test/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
EX_SRC    := $(sort $(wildcard examples/*.c))
EX_DIRS   := $(patsubst examples/%/,%,$(sort $(dir $(wildcard examples/*/*.c))))

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wcast-qual -Wpointer-arith -Wvla \
        -Wundef -Wwrite-strings -Wimplicit-fallthrough -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif

ASN1_GEN := $(B)/asn1/gen
ASN1_RT  := /usr/share/asn1c
CPPFLAGS_OWN := -Iinclude -Ilib -isystem $(ASN1_GEN) -isystem $(ASN1_RT)
CFLAGS_OWN   := -std=c11 -D_DEFAULT_SOURCE $(WARN)
# Generated code gets its own, quieter flags (see doc/architecture.md).
CFLAGS_ASN1  := -std=gnu11 -D_DEFAULT_SOURCE -w -I$(ASN1_GEN) -I$(ASN1_RT)
# Appended after the variant flags: asn1c's runtime shifts 1 << 31 in an
# int (constr_SET.c presence bitmap), which UBSan would abort on.
CFLAGS_ASN1_LAST := -fno-sanitize=shift

ifeq ($(SAN),thread)
V := tsan
VFLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer -DX400T_TSAN=1
else ifeq ($(SAN),none)
V := plain
VFLAGS := -O1 -g
else
V := asan
VFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
REL_FLAGS := -O2 -g

CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm) -lpthread -lm
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)

.DEFAULT_GOAL := all
FORCE:
.PHONY: FORCE all check demo examples bench fuzz install uninstall clean deps deps-bench deps-fuzz \
        lib-rel lib-var
.DELETE_ON_ERROR:

all: deps $(B)/libx400p1.a

# ---------------------------------------------------------------- deps
deps:
	@sh tools/deps.sh build
deps-bench:
	@sh tools/deps.sh bench
deps-fuzz:
	@sh tools/deps.sh fuzz

# ---------------------------------------------------------------- ASN.1
# asn1c writes a module-dependent file list, so generation is one stamped
# step and compilation of the generated tree is a script (parallel, quiet).
$(B)/asn1/stamp: $(ASN1_SRC) tools/asn1gen.sh
	@sh tools/asn1gen.sh $(ASN1_GEN) $(ASN1_SRC)
	@touch $@

ifneq ($(ASN1_SRC),)
ASN1_OBJ = $(B)/$(1)/asn1.o
# FORCE: the script itself decides what to rebuild (per-file mtimes, a
# change of CC/flags, changed generated headers) and leaves asn1.o alone
# when nothing changed.
$(B)/%/asn1.o: $(B)/asn1/stamp tools/asn1build.sh FORCE
	@sh tools/asn1build.sh "$(CC)" "$(CFLAGS_ASN1) $(if $(filter rel bench,$*),$(REL_FLAGS),$(if $(filter fuzz,$*),$(FUZZ_FLAGS),$(VFLAGS))) $(CFLAGS_ASN1_LAST)" $(ASN1_GEN) $(ASN1_RT) $(B)/$*/asn1 $@ $(NPROC)
else
ASN1_OBJ =
endif

# ---------------------------------------------------------------- library
# $(1)=variant dir, $(2)=compiler flags
define variant
$(B)/$(1)/lib/%.o: lib/%.c $(LIB_HDR) $(if $(ASN1_SRC),$(B)/asn1/stamp) | $(B)/$(1)/lib
	$$(CC) $(CPPFLAGS_OWN) $(CFLAGS_OWN) $(2) -c $$< -o $$@
$(B)/$(1)/lib:
	@mkdir -p $$@
# Unfiltered partial link: tests and benches see internal symbols.
$(B)/$(1)/all.o: $(patsubst lib/%.c,$(B)/$(1)/lib/%.o,$(LIB_SRC)) $(call ASN1_OBJ,$(1))
	$(LD) -r -o $$@ $$^
# The library: only ^x400_ symbols stay global.
$(B)/$(1)/libx400p1.a: $(B)/$(1)/all.o
	@$(NM) -g --defined-only $$< | awk '$$$$3 ~ /^x400_/ {print $$$$3}' | sort -u > $(B)/$(1)/public.syms
	$(OBJCOPY) --keep-global-symbols=$(B)/$(1)/public.syms $$< $(B)/$(1)/x400p1.o
	@rm -f $$@
	$(AR) rcs $$@ $(B)/$(1)/x400p1.o
endef

$(eval $(call variant,rel,$(REL_FLAGS)))
$(eval $(call variant,$(V),$(VFLAGS)))

$(B)/libx400p1.a: $(B)/rel/libx400p1.a
	cp $< $@

# ---------------------------------------------------------------- tests
TB := $(B)/$(V)/test
$(TB)/suites.inc: FORCE | $(TB)
	@for f in $(TEST_SRC); do m=$${f#test/check_}; echo "X400T_SUITE($${m%.c})"; done > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@
$(TB):
	@mkdir -p $@
# The example MTA's modules other than its event loop and main are unit
# tested in the runner too (spool, configuration, logging).
MTA_MODS := $(filter-out examples/x400mta/main.c examples/x400mta/manager.c,$(sort $(wildcard examples/x400mta/*.c)))
$(TB)/check_runner: test/runner.c $(TEST_SRC) $(TEST_SUPP) $(MTA_MODS) $(wildcard test/*.h examples/x400mta/*.h) $(TB)/suites.inc $(B)/$(V)/all.o
	$(CC) $(CPPFLAGS_OWN) -I$(TB) -Itest -Iexamples/x400mta $(CHECK_CFLAGS) $(CFLAGS_OWN) $(VFLAGS) \
	  test/runner.c $(TEST_SRC) $(TEST_SUPP) $(MTA_MODS) $(B)/$(V)/all.o -o $@ $(CHECK_LIBS)
$(TB)/helper_%: test/helper_%.c $(B)/$(V)/all.o $(wildcard test/*.h) | $(TB)
	$(CC) $(CPPFLAGS_OWN) -Itest $(CFLAGS_OWN) $(VFLAGS) $< $(B)/$(V)/all.o -o $@ -lpthread -lm
$(TB)/replay_%: test/fuzz/fuzz_%.c test/fuzz/replay_main.c $(B)/$(V)/all.o | $(TB)
	$(CC) $(CPPFLAGS_OWN) -Itest $(CFLAGS_OWN) $(VFLAGS) $< test/fuzz/replay_main.c $(B)/$(V)/all.o -o $@ -lpthread -lm

TEST_BINS := $(TB)/check_runner $(patsubst test/%.c,$(TB)/%,$(TEST_HELP)) \
             $(patsubst %,$(TB)/replay_%,$(FUZZ_T)) $(patsubst %,$(TB)/examples/%,$(EX_DIRS)) \
             $(patsubst examples/%.c,$(TB)/examples/%,$(EX_SRC))
$(TB)/examples/%: examples/%.c $(B)/$(V)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(TB)/examples
	$(CC) -Iinclude $(CFLAGS_OWN) $(VFLAGS) $< $(B)/$(V)/libx400p1.a -o $@ -lpthread -lm

check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(TEST_BINS) $(B)/$(V)/libx400p1.a
	@echo "== check ($(V)): unit suites"
	X400T_BINDIR=$(abspath $(TB)) X400T_LIBRARY=$(abspath $(B)/$(V)/libx400p1.a) \
	  X400T_SRCDIR=$(CURDIR) $(TB)/check_runner
	@for t in $(FUZZ_T); do \
	  echo "== check ($(V)): fuzz corpus replay: $$t"; \
	  $(TB)/replay_$$t test/fuzz/corpus/$$t || exit 1; done

# ---------------------------------------------------------------- bench
BB := $(B)/bench
$(B)/bench/lib/%.o: lib/%.c $(LIB_HDR) $(if $(ASN1_SRC),$(B)/asn1/stamp)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_OWN) $(CFLAGS_OWN) -O2 -DNDEBUG -c $< -o $@
$(BB)/all.o: $(patsubst lib/%.c,$(BB)/lib/%.o,$(LIB_SRC)) $(call ASN1_OBJ,bench)
	$(LD) -r -o $@ $^
$(BB)/benches.inc: FORCE
	@mkdir -p $(BB)
	@for f in $(BENCH_SRC); do m=$${f#bench/bench_}; echo "X400B_BENCH($${m%.c})"; done > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@
$(BB)/bench: bench/bench_main.c $(BENCH_SRC) $(wildcard bench/*.h) $(BB)/benches.inc $(BB)/all.o
	$(CC) $(CPPFLAGS_OWN) -I$(BB) -Ibench $(CFLAGS_OWN) -O2 -DNDEBUG \
	  $(shell pkg-config --cflags glib-2.0 2>/dev/null) \
	  bench/bench_main.c $(BENCH_SRC) $(BB)/all.o -o $@ \
	  -luuid $(shell pkg-config --libs glib-2.0 2>/dev/null) -lpthread -lm
bench: deps deps-bench
	@$(MAKE) --no-print-directory -j$(NPROC) $(BB)/bench $(EX_BINS)
	X400B_BINDIR=$(abspath $(BB)) X400B_EXDIR=$(abspath $(EB)) X400B_SRCDIR=$(CURDIR) $(BB)/bench

# ---------------------------------------------------------------- fuzz
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FB := $(B)/fuzz
$(FB)/lib/%.o: lib/%.c $(LIB_HDR) $(if $(ASN1_SRC),$(B)/asn1/stamp)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS_OWN) $(CFLAGS_OWN) $(FUZZ_FLAGS) -c $< -o $@
$(FB)/all.o: $(patsubst lib/%.c,$(FB)/lib/%.o,$(LIB_SRC)) $(call ASN1_OBJ,fuzz)
	$(LD) -r -o $@ $^
$(FB)/fuzz_%: test/fuzz/fuzz_%.c $(FB)/all.o
	clang $(CPPFLAGS_OWN) -Itest $(CFLAGS_OWN) -O1 -g -fsanitize=fuzzer,address,undefined $^ -o $@ -lpthread -lm
fuzz: deps deps-fuzz
	@$(MAKE) --no-print-directory CC=clang $(patsubst %,$(FB)/fuzz_%,$(FUZZ_T))
	@for t in $(FUZZ_T); do mkdir -p test/fuzz/corpus/$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  $(FB)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=70000 test/fuzz/corpus/$$t || exit 1; done

# ---------------------------------------------------------------- examples
EB := $(B)/examples
$(EB)/%: examples/%.c $(B)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(EB)
	$(CC) -Iinclude $(CFLAGS_OWN) -O2 -g $< $(B)/libx400p1.a -o $@ -lpthread -lm
EX_BINS := $(patsubst examples/%.c,$(EB)/%,$(EX_SRC))
# examples/<prog>/*.c: one program per directory (EX_DIRS, e.g. examples/x400mta/)
define EXDIR_RULE
$(EB)/$(1): $(wildcard examples/$(1)/*.c examples/$(1)/*.h) $(B)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(EB)
	$$(CC) -Iinclude $$(CFLAGS_OWN) -O2 -g $(wildcard examples/$(1)/*.c) $(B)/libx400p1.a -o $$@ -lpthread -lm
# the same under the check variant's sanitizers, for the end-to-end tests
$(TB)/examples/$(1): $(wildcard examples/$(1)/*.c examples/$(1)/*.h) $(B)/$(V)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(TB)/examples
	$$(CC) -Iinclude $$(CFLAGS_OWN) $$(VFLAGS) $(wildcard examples/$(1)/*.c) $(B)/$(V)/libx400p1.a -o $$@ -lpthread -lm
endef
$(foreach d,$(EX_DIRS),$(eval $(call EXDIR_RULE,$(d))))
EX_BINS += $(addprefix $(EB)/,$(EX_DIRS))
examples: $(EX_BINS)

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(EX_BINS)
	@sh examples/demo.sh $(abspath $(EB))

# ---------------------------------------------------------------- install
$(B)/x400p1.pc: Makefile
	@mkdir -p $(B)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	  'Name: x400p1' 'Description: X.400 P1 (MTA-to-MTA) protocol stack over RFC 1006' \
	  'Version: $(shell sed -n 's/^#define X400P1_VERSION "\(.*\)"/\1/p' include/x400p1/common.h)' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lx400p1 -lpthread -lm' > $@

install: all $(B)/x400p1.pc
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/x400p1
	install -m 644 $(B)/libx400p1.a $(DESTDIR)$(LIBDIR)/libx400p1.a
	install -m 644 $(PUB_HDR) $(DESTDIR)$(INCDIR)/x400p1/
	install -m 644 $(B)/x400p1.pc $(DESTDIR)$(LIBDIR)/pkgconfig/x400p1.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libx400p1.a $(DESTDIR)$(LIBDIR)/pkgconfig/x400p1.pc
	rm -rf $(DESTDIR)$(INCDIR)/x400p1

clean:
	rm -rf $(B)

# ---------------------------------------------------------------- fuzz: example MTA
# Fuzz targets of the example MTA's modules (configuration parser, spool
# files and journal) link them in; everything else about them (corpus in
# test/fuzz/corpus/<t>/, replayed by `make check`) is as for the others.
MTA_FUZZ := mtaconfig mtaspool
$(patsubst %,$(TB)/replay_%,$(MTA_FUZZ)): $(TB)/replay_%: test/fuzz/fuzz_%.c test/fuzz/replay_main.c $(MTA_MODS) examples/x400mta/mta.h $(B)/$(V)/all.o | $(TB)
	$(CC) $(CPPFLAGS_OWN) -Itest -Iexamples/x400mta $(CFLAGS_OWN) $(VFLAGS) $< test/fuzz/replay_main.c $(MTA_MODS) $(B)/$(V)/all.o -o $@ -lpthread -lm
$(patsubst %,$(FB)/fuzz_%,$(MTA_FUZZ)): $(FB)/fuzz_%: test/fuzz/fuzz_%.c $(MTA_MODS) $(FB)/all.o
	clang $(CPPFLAGS_OWN) -Itest -Iexamples/x400mta $(CFLAGS_OWN) -O1 -g -fsanitize=fuzzer,address,undefined $< $(MTA_MODS) $(FB)/all.o -o $@ -lpthread -lm
