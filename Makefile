# casfs build. Non-recursive: each folder contributes a build.mk fragment.
# Objects and binaries go to $(BUILD) (build/ by default); `make test` builds
# a second tree with AddressSanitizer + UndefinedBehaviorSanitizer in
# build/san and runs every test against it.

BUILD ?= build
SAN ?= 0
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc

PKGS := fuse3 libssh2 libxxhash cmocka inih libevent libevent_pthreads
STAMP := $(BUILD)/.deps-ok

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror \
	-Wno-missing-field-initializers -g -MMD -MP -I. -pthread
ifeq ($(SAN),1)
CFLAGS_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_SAN := -fsanitize=address,undefined
else
CFLAGS_OPT := -O2
LDFLAGS_SAN :=
endif

ALL_CFLAGS = $(CFLAGS_BASE) $(CFLAGS_OPT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
pc_libs = $(shell pkg-config --libs $(1) 2>/dev/null)

.PHONY: all deps test run stop bench fuzz install clean unit-tests
all: deps

deps: $(STAMP)
$(STAMP): packaging/install-deps
	@./packaging/install-deps
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

include fs/build.mk
-include metad/build.mk
-include chunkd/build.mk
-include client/build.mk
include tests/build.mk

BINS := $(filter-out ,$(BINS))
all: $(BINS)

# The test tree is built by a nested make so its objects never mix with the
# optimised ones.
test: deps
	@$(MAKE) --no-print-directory BUILD=build/san SAN=1 all unit-tests
	@$(MAKE) --no-print-directory BUILD=build/fuzz fuzz-targets
	@CASFS_BIN=build/san FUZZ_BIN=build/fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-15} tests/run-tests

fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz fuzz-targets
	@FUZZ_BIN=build/fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-60} tests/run-fuzz

run: all
	@$(BUILD)/casfs local up --dir ./run --mount ./mnt --goal 2

stop:
	@$(BUILD)/casfs local down --dir ./run

bench: all $(BENCH_BINS)
	@tests/bench/run

# mount(8) looks for its helpers in /sbin, whatever PREFIX is.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/sbin $(DESTDIR)/etc/casfs \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	for b in $(BINS); do install -m 0755 $$b $(DESTDIR)$(PREFIX)/bin/; done
	install -m 0755 client/mount.casfs $(DESTDIR)/sbin/mount.casfs
	ln -sf mount.casfs $(DESTDIR)/sbin/mount.fuse.casfs
	install -m 0644 packaging/systemd/*.service $(DESTDIR)$(PREFIX)/lib/systemd/system/
	for c in packaging/conf/*.conf; do \
		[ -e $(DESTDIR)/etc/casfs/$${c##*/} ] || install -m 0644 $$c $(DESTDIR)/etc/casfs/; \
	done

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
