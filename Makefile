# A thin wrapper around CMake.  The two commands a newcomer needs:
#   make demo   install dependencies, build, run the demo
#   make test   install dependencies, build, run every test (also under
#               AddressSanitizer/UBSan and ThreadSanitizer, and the fuzzers
#               for a bounded time)
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
DEB_BUILD  ?= build-deb
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all build deps test test-unit test-asan test-tsan test-fuzz demo bench \
	format format-check check-shape install deb clean

all: build

deps:
	./scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DPC_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Everything CI runs.  Integration tests need root (mounts, namespaces).
test: deps build format-check check-shape
	cd $(BUILD) && ctest --output-on-failure -LE fuzz
	$(MAKE) test-asan
	$(MAKE) test-tsan
	$(MAKE) test-fuzz

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DPC_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DPC_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -LE "fuzz|bench-only"

test-tsan:
	cmake -S . -B $(TSAN_BUILD) -DPC_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
		-DPC_SANITIZE=thread $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && \
		TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
		ctest --output-on-failure -LE fuzz

test-fuzz:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DPC_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

demo: deps build
	./scripts/demo.sh $(BUILD)

bench: build
	./bench/run.sh $(BUILD)

SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(SOURCES)
format-check:
	clang-format --dry-run --Werror $(SOURCES)
# No .c file over 800 lines, no function over 60 (but the listed
# exceptions, which it prints); ctest runs it too (test "shape").
check-shape:
	./scripts/check-shape.sh

# Installs under $(DESTDIR)$(PREFIX): the three binaries, the systemd units
# (lib/systemd/system), tmpfiles.d, and the sample configuration and docs
# (share/doc/peercache).  Nothing in /etc: docs/ADMIN.md says what goes there.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# The Debian package: $(DEB_BUILD)/peercache_VERSION_ARCH.deb, built by
# debhelper (debian/) from a copy of the tree, so that the tree itself
# stays clean.  The copy keeps its files' times and the CMake build
# directory ($(DEB_BUILD)/obj) is kept, so a second `make deb` compiles
# only what changed.  Then lintian checks it (debian/*lintian-overrides
# say why a tag is accepted).
deb:
	rm -rf $(DEB_BUILD)/src
	mkdir -p $(DEB_BUILD)/src
	tar -c --exclude-vcs --exclude='./build*' --exclude=./demo \
		--exclude='./obj-*' -f - . | tar -x -C $(DEB_BUILD)/src -f -
	rm -f $(DEB_BUILD)/peercache_*
	cd $(DEB_BUILD)/src && PC_DEB_OBJDIR=$(abspath $(DEB_BUILD))/obj \
		dpkg-buildpackage -b -us -uc -nc
	lintian --fail-on error,warning --info --display-info \
		$(DEB_BUILD)/peercache_*.changes
	@ls $(DEB_BUILD)/peercache_*.deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
