# x400p1 -- X.400 P1 over RFC 1006 as a static C11 library.
#
#   make              build/libx400p1.a (release, hidden internal symbols,
#                     no debug info unless DEBUG=1) and the example programs
#   make check        the unit, wire and end-to-end suites under ASan+UBSan
#                     (SAN=thread: TSan), the man pages, the doc links
#                     and x400p1(3) against the public headers
#   make check-long   the long fault runs (SIGKILL rounds, cut sweeps)
#   make demo         two example MTAs exchanging mail, with faults
#                     (tools/mta_demo.c drives them, tools/demo.sh)
#   make bench        optimised benchmarks, `bench: NAME VALUE UNIT` lines
#                     (make bench-build: compiled only)
#   make fuzz         libFuzzer targets, FUZZ_SECONDS each (clang)
#   make install      PREFIX=/usr/local DESTDIR= (LIBDIR, INCLUDEDIR, SBINDIR,
#                     MANDIR, DOCDIR); `make uninstall` removes it all
#   make deps         install/verify the build dependencies (Debian 12);
#                     `check`, `bench` and `fuzz` add their own
#
# CPPFLAGS, CFLAGS and LDFLAGS from the environment or the command line are
# appended after the project's flags (e.g. `dpkg-buildflags`); the flags the
# project needs are in *_OWN and the variant variables.  V=1: full command
# lines.
#
# Modules are discovered: lib/*.c, asn1/*.asn1, test/check_<m>.c (one Check
# suite each), test/helper_*.c (programs tests run), bench/bench_<m>.c,
# test/fuzz/fuzz_<t>.c (+ corpus in test/fuzz/corpus/<t>/), examples/*.c,
# examples/<prog>/*.c (one program per directory).

PREFIX     ?= /usr/local
DESTDIR    ?=
LIBDIR     ?= $(PREFIX)/lib
INCDIR     ?= $(PREFIX)/include
INCLUDEDIR ?= $(INCDIR)
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/x400p1
SAN     ?= address
WERROR  ?= 1
DEBUG   ?= 0
FUZZ_SECONDS ?= 60
NPROC   := $(shell nproc 2>/dev/null || echo 2)
LD      ?= ld
OBJCOPY ?= objcopy
NM      ?= nm
AR      ?= ar
INSTALL ?= install

B := build

# Quiet build: one short line per step; V=1 shows the full command lines.
ifeq ($(V),1)
Q :=
say =
else
Q := @
say = @printf '  %-8s %s\n' '$(1)' '$(2)';
endif

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
MAN_PAGES := $(sort $(wildcard man/*.[1-8]))

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
# Generated code gets its own, quieter flags (see doc/asn1.md).  ASN_DEBUG:
# Debian's asn1c runtime defines it, debugging off, as an empty function,
# so its arguments are still computed (ber_tlv_tag_string's snprintf on
# every tag decoded: 5% of an association setup's CPU); a macro drops them.
CFLAGS_ASN1  := -std=gnu11 -D_DEFAULT_SOURCE -w -I$(ASN1_GEN) -I$(ASN1_RT) -DASN_DEBUG(...)=((void)0)
# Appended after the variant flags: asn1c's runtime shifts 1 << 31 in an
# int (constr_SET.c presence bitmap), which UBSan would abort on.
CFLAGS_ASN1_LAST := -fno-sanitize=shift
# The user's flags, last (hardening from dpkg-buildflags reaches every
# object); USER_CC for compiling, LDFLAGS for linking programs.
USER_CC := $(CPPFLAGS) $(CFLAGS)

# Check variant (VAR): the sanitizers `make check` runs under.
ifeq ($(SAN),thread)
VAR := tsan
VFLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer -DX400T_TSAN=1
else ifeq ($(SAN),none)
VAR := plain
VFLAGS := -O1 -g
else
VAR := asan
VFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
# Release: NDEBUG (the asn1c runtime's assert() calls compile away), no
# debug info unless DEBUG=1 (a distribution's -dbgsym split wants DEBUG=1).
ifeq ($(DEBUG),1)
REL_FLAGS := -O2 -g -DNDEBUG
STRIP_REL :=
else
REL_FLAGS := -O2 -DNDEBUG
STRIP_REL := --strip-debug
endif
# Per-function sections: the library's partial link keeps only what a
# public x400_ function reaches (the asn1c runtime's printers and their
# stdio calls are dropped).
SECTIONS := -ffunction-sections -fdata-sections

CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm) -lpthread -lm
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
VERSION := $(shell sed -n 's/^\#define X400P1_VERSION "\(.*\)"/\1/p' include/x400p1/common.h)

.DEFAULT_GOAL := all
FORCE:
.PHONY: FORCE all lib check check-long check-build check-bins demo examples bench fuzz install uninstall \
        clean deps deps-check deps-bench deps-bench-build deps-fuzz bench-build
.DELETE_ON_ERROR:

all: deps $(B)/libx400p1.a examples

lib: deps $(B)/libx400p1.a

# ---------------------------------------------------------------- deps
deps:
	@sh tools/deps.sh build
deps-check:
	@sh tools/deps.sh check
deps-bench:
	@sh tools/deps.sh bench
deps-bench-build:
	@sh tools/deps.sh bench-build
deps-fuzz:
	@sh tools/deps.sh fuzz

# ---------------------------------------------------------------- ASN.1
# asn1c writes a module-dependent file list, so generation is one stamped
# step and compilation of the generated tree is a script (parallel, quiet;
# V=1 prints its command lines).
# The P1 modules are the tests' and the bench's oracle: no lib/ file uses
# them, so they are built into asn1-p1.o, linked there only (doc/asn1.md).
ASN1_ORACLE := p1-upper-bounds.asn1 p1-mts.asn1 p1-mta.asn1 ros.asn1
$(B)/asn1/stamp: $(ASN1_SRC) tools/asn1gen.sh
	$(call say,ASN1C,$(ASN1_SRC))
	$(Q)ASN1_ORACLE="$(ASN1_ORACLE)" sh tools/asn1gen.sh $(ASN1_GEN) $(ASN1_SRC)
	@touch $@

ifneq ($(ASN1_SRC),)
ASN1_OBJ = $(B)/$(1)/asn1.o
ASN1_P1_OBJ = $(B)/$(1)/asn1-p1.o
ASN1_FLAGS = "$(strip $(CFLAGS_ASN1) $(if $(filter rel bench,$*),$(REL_FLAGS) $(SECTIONS),$(if $(filter fuzz,$*),$(FUZZ_FLAGS),$(VFLAGS))) $(USER_CC) $(CFLAGS_ASN1_LAST))"
# FORCE: the script itself decides what to rebuild (per-file mtimes, a
# change of CC/flags, changed generated headers) and leaves asn1.o alone
# when nothing changed.
$(B)/%/asn1.o: $(B)/asn1/stamp tools/asn1build.sh FORCE
	@V=$(V) sh tools/asn1build.sh "$(CC)" $(ASN1_FLAGS) $(ASN1_GEN) $(ASN1_RT) $(B)/$*/asn1 $@ $(NPROC) lib.list runtime.list
$(B)/%/asn1-p1.o: $(B)/asn1/stamp tools/asn1build.sh FORCE
	@V=$(V) sh tools/asn1build.sh "$(CC)" $(ASN1_FLAGS) $(ASN1_GEN) $(ASN1_RT) $(B)/$*/asn1-p1 $@ $(NPROC) oracle.list runtime-oracle.list
else
ASN1_OBJ =
ASN1_P1_OBJ =
endif

# ---------------------------------------------------------------- library
# $(1)=variant dir, $(2)=compiler flags, $(3)=objcopy flags of the archive
define variant
$(B)/$(1)/lib/%.o: lib/%.c $(LIB_HDR) $(if $(ASN1_SRC),$(B)/asn1/stamp) | $(B)/$(1)/lib
	$$(call say,CC,$$<  [$(1)])
	$$(Q)$$(CC) $(CPPFLAGS_OWN) $(CFLAGS_OWN) $(2) $$(USER_CC) -c $$< -o $$@
$(B)/$(1)/lib:
	@mkdir -p $$@
# Unfiltered partial link: tests and benches see internal symbols.
$(B)/$(1)/all.o: $(patsubst lib/%.c,$(B)/$(1)/lib/%.o,$(LIB_SRC)) $(call ASN1_OBJ,$(1))
	$$(call say,LD,$$@)
	$$(Q)$(LD) -r -o $$@ $$^
# The library: only ^x400_ symbols stay global (tools/libhide.sh; release:
# only what they reach, no stray stdio references).
$(B)/$(1)/libx400p1.a: $(B)/$(1)/all.o tools/libhide.sh
	$$(call say,AR,$$@)
	$$(Q)LD=$(LD) NM=$(NM) OBJCOPY=$(OBJCOPY) OBJCOPY_FLAGS="$(3)" \
	  sh tools/libhide.sh $$< $(B)/$(1)/x400p1.o $(if $(filter rel,$(1)),release,check)
	@rm -f $$@
	$$(Q)$(AR) rcs $$@ $(B)/$(1)/x400p1.o
endef

$(eval $(call variant,rel,$(REL_FLAGS) $(SECTIONS),$(STRIP_REL) --remove-section=.comment))
$(eval $(call variant,$(VAR),$(VFLAGS),))

$(B)/libx400p1.a: $(B)/rel/libx400p1.a
	@cp $< $@

# ---------------------------------------------------------------- tests
TB := $(B)/$(VAR)/test
$(TB)/suites.inc: FORCE | $(TB)
	@for f in $(TEST_SRC); do m=$${f#test/check_}; echo "X400T_SUITE($${m%.c})"; done > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@
$(TB):
	@mkdir -p $@
# The example MTA's modules other than its event loop and main are unit
# tested in the runner too (spool, configuration, logging).
MTA_MODS := $(filter-out examples/x400mta/main.c examples/x400mta/manager.c,$(sort $(wildcard examples/x400mta/*.c)))
# x400mta's test hooks (slow fdatasync and syncfs from the environment,
# examples/x400mta/mta.h): in the test builds only, never in the release one.
MTA_TEST_HOOKS := -DX400MTA_TEST_HOOKS
# What the tests link: the library's objects and the asn1c oracle.
TEST_OBJ := $(B)/$(VAR)/all.o $(call ASN1_P1_OBJ,$(VAR))
$(TB)/check_runner: test/runner.c $(TEST_SRC) $(TEST_SUPP) $(MTA_MODS) $(wildcard test/*.h examples/x400mta/*.h) $(TB)/suites.inc $(TEST_OBJ)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS_OWN) -I$(TB) -Itest -Iexamples/x400mta $(MTA_TEST_HOOKS) $(CHECK_CFLAGS) $(CFLAGS_OWN) $(VFLAGS) $(USER_CC) \
	  test/runner.c $(TEST_SRC) $(TEST_SUPP) $(MTA_MODS) $(TEST_OBJ) -o $@ $(LDFLAGS) $(CHECK_LIBS)
$(TB)/helper_%: test/helper_%.c $(TEST_OBJ) $(wildcard test/*.h) | $(TB)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS_OWN) -Itest $(CFLAGS_OWN) $(VFLAGS) $(USER_CC) $< $(TEST_OBJ) -o $@ $(LDFLAGS) -lpthread -lm
$(TB)/replay_%: test/fuzz/fuzz_%.c test/fuzz/replay_main.c $(TEST_OBJ) | $(TB)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS_OWN) -Itest $(CFLAGS_OWN) $(VFLAGS) $(USER_CC) $< test/fuzz/replay_main.c $(TEST_OBJ) -o $@ $(LDFLAGS) -lpthread -lm

TEST_BINS := $(TB)/check_runner $(patsubst test/%.c,$(TB)/%,$(TEST_HELP)) \
             $(patsubst %,$(TB)/replay_%,$(FUZZ_T)) $(patsubst %,$(TB)/examples/%,$(EX_DIRS)) \
             $(patsubst examples/%.c,$(TB)/examples/%,$(EX_SRC)) $(TB)/tools/mta_demo
$(TB)/examples/%: examples/%.c $(B)/$(VAR)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(TB)/examples
	$(call say,CCLD,$@)
	$(Q)$(CC) -Iinclude $(CFLAGS_OWN) $(VFLAGS) $(USER_CC) $< $(B)/$(VAR)/libx400p1.a -o $@ $(LDFLAGS) -lpthread -lm

# The runner prints each suite with its time as it finishes and a summary
# line; X400T_LONG=1 selects the long fault runs instead (tcases tagged
# "long"); CK_RUN_SUITE / CK_RUN_CASE select as with any Check program.
RUN_TESTS = X400T_BINDIR=$(abspath $(TB)) X400T_LIBRARY=$(abspath $(B)/$(VAR)/libx400p1.a) \
  X400T_RELEASE_LIBRARY=$(abspath $(B)/libx400p1.a) X400T_SRCDIR=$(CURDIR) $(TB)/check_runner
check-build: deps deps-check
	@$(MAKE) --no-print-directory -j$(NPROC) check-bins
check-bins: $(TEST_BINS) $(B)/$(VAR)/libx400p1.a $(B)/libx400p1.a
	@:
check: check-build
	@for t in $(FUZZ_T); do $(TB)/replay_$$t test/fuzz/corpus/$$t >/dev/null || \
	  { echo "fuzz corpus replay $$t failed"; exit 1; }; done; echo "  fuzz corpus replays: $(words $(FUZZ_T)) targets"
	@$(RUN_TESTS)
check-long: check-build
	@X400T_LONG=1 $(RUN_TESTS)

# ---------------------------------------------------------------- bench
BB := $(B)/bench
$(B)/bench/lib/%.o: lib/%.c $(LIB_HDR) $(if $(ASN1_SRC),$(B)/asn1/stamp)
	@mkdir -p $(dir $@)
	$(call say,CC,$<  [bench])
	$(Q)$(CC) $(CPPFLAGS_OWN) $(CFLAGS_OWN) -O2 -DNDEBUG $(USER_CC) -c $< -o $@
$(BB)/all.o: $(patsubst lib/%.c,$(BB)/lib/%.o,$(LIB_SRC)) $(call ASN1_OBJ,bench)
	$(call say,LD,$@)
	$(Q)$(LD) -r -o $@ $^
$(BB)/benches.inc: FORCE
	@mkdir -p $(BB)
	@for f in $(BENCH_SRC); do m=$${f#bench/bench_}; echo "X400B_BENCH($${m%.c})"; done > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm -f $@.tmp || mv $@.tmp $@
# The benches share the tests' two-endpoint harness (test/pair.h; no Check).
BENCH_SUPP := test/support_pair.c test/support_ses_end.c
$(BB)/bench: bench/bench_main.c $(BENCH_SRC) $(BENCH_SUPP) $(wildcard bench/*.h) test/pair.h test/wire.h $(BB)/benches.inc $(BB)/all.o $(call ASN1_P1_OBJ,bench)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS_OWN) -I$(BB) -Ibench -Itest $(CFLAGS_OWN) -O2 -DNDEBUG $(USER_CC) \
	  $(shell pkg-config --cflags glib-2.0 2>/dev/null) \
	  bench/bench_main.c $(BENCH_SRC) $(BENCH_SUPP) $(BB)/all.o $(call ASN1_P1_OBJ,bench) -o $@ $(LDFLAGS) \
	  -luuid $(shell pkg-config --libs glib-2.0 2>/dev/null) -lpthread -lm
# bench-build: the benches compiled, not run (CI: they stay buildable)
bench-build: deps deps-bench-build
	@$(MAKE) --no-print-directory $(BB)/bench $(EX_BINS)
bench: deps deps-bench
	@$(MAKE) --no-print-directory -j$(NPROC) $(BB)/bench $(EX_BINS)
	X400B_BINDIR=$(abspath $(BB)) X400B_EXDIR=$(abspath $(EB)) X400B_SRCDIR=$(CURDIR) $(BB)/bench

# ---------------------------------------------------------------- fuzz
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FB := $(B)/fuzz
$(FB)/lib/%.o: lib/%.c $(LIB_HDR) $(if $(ASN1_SRC),$(B)/asn1/stamp)
	@mkdir -p $(dir $@)
	$(call say,CC,$<  [fuzz])
	$(Q)clang $(CPPFLAGS_OWN) $(CFLAGS_OWN) $(FUZZ_FLAGS) $(USER_CC) -c $< -o $@
$(FB)/all.o: $(patsubst lib/%.c,$(FB)/lib/%.o,$(LIB_SRC)) $(call ASN1_OBJ,fuzz)
	$(Q)$(LD) -r -o $@ $^
$(FB)/fuzz_%: test/fuzz/fuzz_%.c $(FB)/all.o $(call ASN1_P1_OBJ,fuzz)
	$(call say,CCLD,$@)
	$(Q)clang $(CPPFLAGS_OWN) -Itest $(CFLAGS_OWN) -O1 -g -fsanitize=fuzzer,address,undefined $(USER_CC) $^ -o $@ $(LDFLAGS) -lpthread -lm
fuzz: deps deps-fuzz
	@$(MAKE) --no-print-directory CC=clang $(patsubst %,$(FB)/fuzz_%,$(FUZZ_T))
	@for t in $(FUZZ_T); do mkdir -p test/fuzz/corpus/$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  $(FB)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=70000 test/fuzz/corpus/$$t || exit 1; done

# ---------------------------------------------------------------- examples
EB := $(B)/examples
$(EB)/%: examples/%.c $(B)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(EB)
	$(call say,CCLD,$@)
	$(Q)$(CC) -Iinclude $(CFLAGS_OWN) -O2 $(USER_CC) $< $(B)/libx400p1.a -o $@ $(LDFLAGS) -lpthread -lm
EX_BINS := $(patsubst examples/%.c,$(EB)/%,$(EX_SRC))
# examples/<prog>/*.c: one program per directory (EX_DIRS, e.g. examples/x400mta/)
define EXDIR_RULE
$(EB)/$(1): $(wildcard examples/$(1)/*.c examples/$(1)/*.h) $(B)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(EB)
	$$(call say,CCLD,$$@)
	$$(Q)$$(CC) -Iinclude $$(CFLAGS_OWN) -O2 $$(USER_CC) $(wildcard examples/$(1)/*.c) $(B)/libx400p1.a -o $$@ $$(LDFLAGS) -lpthread -lm
# the same under the check variant's sanitizers, for the end-to-end tests
$(TB)/examples/$(1): $(wildcard examples/$(1)/*.c examples/$(1)/*.h) $(B)/$(VAR)/libx400p1.a $(PUB_HDR)
	@mkdir -p $(TB)/examples
	$$(call say,CCLD,$$@)
	$$(Q)$$(CC) -Iinclude $$(MTA_TEST_HOOKS) $$(CFLAGS_OWN) $$(VFLAGS) $$(USER_CC) $(wildcard examples/$(1)/*.c) $(B)/$(VAR)/libx400p1.a -o $$@ $$(LDFLAGS) -lpthread -lm
endef
$(foreach d,$(EX_DIRS),$(eval $(call EXDIR_RULE,$(d))))
EX_BINS += $(addprefix $(EB)/,$(EX_DIRS))
examples: $(EX_BINS) $(B)/x400mta.conf
	@:

# The sample configuration installed with x400mta: what `sample-config`
# prints, so it always loads.
$(B)/x400mta.conf: $(EB)/x400mta
	$(call say,GEN,$@)
	$(Q)$(EB)/x400mta sample-config > $@

# The two-MTA demo driver (tools/mta_demo.c, not an example to study: it
# injects faults around two x400mta processes); it shares the scratch
# directory helpers of the test harness (test/support_pair.c).
# check_mtademo runs the sanitized build, $(TB)/tools/mta_demo.
DEMO_SRC := tools/mta_demo.c test/support_pair.c
DEMO_DEP := $(DEMO_SRC) test/pair.h test/wire.h $(PUB_HDR)
$(B)/tools/mta_demo: $(DEMO_DEP) $(B)/libx400p1.a
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) -Iinclude -Itest $(CFLAGS_OWN) -O2 $(USER_CC) $(DEMO_SRC) $(B)/libx400p1.a -o $@ $(LDFLAGS) -lpthread -lm
$(TB)/tools/mta_demo: $(DEMO_DEP) $(B)/$(VAR)/libx400p1.a
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) -Iinclude -Itest $(CFLAGS_OWN) $(VFLAGS) $(USER_CC) $(DEMO_SRC) $(B)/$(VAR)/libx400p1.a -o $@ $(LDFLAGS) -lpthread -lm

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) examples $(B)/tools/mta_demo
	@sh tools/demo.sh $(abspath $(B)/tools) $(abspath $(EB))

# ---------------------------------------------------------------- install
# The .pc names the installation directories relative to ${prefix} where
# they lie under it; rewritten (only) when a directory or the version changes.
pcdir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
$(B)/x400p1.pc: FORCE
	@mkdir -p $(B)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(call pcdir,$(LIBDIR))' \
	  'includedir=$(call pcdir,$(INCLUDEDIR))' '' \
	  'Name: x400p1' 'Description: X.400 P1 (MTA-to-MTA) protocol stack over RFC 1006' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lx400p1 -lpthread -lm' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@

# Every file `make install` writes, and the directories it may create.
INST_FILES := $(LIBDIR)/libx400p1.a $(LIBDIR)/pkgconfig/x400p1.pc \
  $(addprefix $(INCLUDEDIR)/x400p1/,$(notdir $(PUB_HDR))) $(SBINDIR)/x400mta \
  $(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))) \
  $(DOCDIR)/examples/x400mta.conf
INST_DIRS := $(sort $(patsubst %/,%,$(dir $(INST_FILES))))

install: all $(B)/x400p1.pc
	$(Q)$(INSTALL) -d $(addprefix $(DESTDIR),$(INST_DIRS))
	$(Q)$(INSTALL) -m 644 $(B)/libx400p1.a $(DESTDIR)$(LIBDIR)/libx400p1.a
	$(Q)$(INSTALL) -m 644 $(B)/x400p1.pc $(DESTDIR)$(LIBDIR)/pkgconfig/x400p1.pc
	$(Q)$(INSTALL) -m 644 $(PUB_HDR) $(DESTDIR)$(INCLUDEDIR)/x400p1/
	$(Q)$(INSTALL) -m 755 $(EB)/x400mta $(DESTDIR)$(SBINDIR)/x400mta
	$(Q)for m in $(MAN_PAGES); do s=$${m##*.}; \
	  $(INSTALL) -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done
	$(Q)$(INSTALL) -m 644 $(B)/x400mta.conf $(DESTDIR)$(DOCDIR)/examples/x400mta.conf
	@echo "installed x400p1 $(VERSION) under $(DESTDIR)$(PREFIX)"

# Removes the files, then every directory left empty, walking up to (not
# including) PREFIX, or with DESTDIR up to (not including) DESTDIR.
uninstall:
	$(Q)rm -f $(addprefix $(DESTDIR),$(INST_FILES))
	$(Q)for d in $(INST_DIRS); do \
	  while [ "$$d" != / ] && [ "$$d" != . ] && { [ -n "$(DESTDIR)" ] || [ "$$d" != "$(PREFIX)" ]; }; do \
	    rmdir "$(DESTDIR)$$d" 2>/dev/null || break; d=$$(dirname "$$d"); done; done
	@echo "removed x400p1 from $(DESTDIR)$(PREFIX)"

clean:
	rm -rf $(B)

# ---------------------------------------------------------------- fuzz: example MTA
# Fuzz targets of the example MTA's modules (configuration parser, spool
# files and journal) link them in; everything else about them (corpus in
# test/fuzz/corpus/<t>/, replayed by `make check`) is as for the others.
MTA_FUZZ := mtaconfig mtaspool
$(patsubst %,$(TB)/replay_%,$(MTA_FUZZ)): $(TB)/replay_%: test/fuzz/fuzz_%.c test/fuzz/replay_main.c $(MTA_MODS) examples/x400mta/mta.h $(TEST_OBJ) | $(TB)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(CPPFLAGS_OWN) -Itest -Iexamples/x400mta $(CFLAGS_OWN) $(VFLAGS) $(USER_CC) $< test/fuzz/replay_main.c $(MTA_MODS) $(TEST_OBJ) -o $@ $(LDFLAGS) -lpthread -lm
$(patsubst %,$(FB)/fuzz_%,$(MTA_FUZZ)): $(FB)/fuzz_%: test/fuzz/fuzz_%.c $(MTA_MODS) $(FB)/all.o $(call ASN1_P1_OBJ,fuzz)
	$(call say,CCLD,$@)
	$(Q)clang $(CPPFLAGS_OWN) -Itest -Iexamples/x400mta $(CFLAGS_OWN) -O1 -g -fsanitize=fuzzer,address,undefined $(USER_CC) $< $(MTA_MODS) $(FB)/all.o $(call ASN1_P1_OBJ,fuzz) -o $@ $(LDFLAGS) -lpthread -lm
