/*
 * test_store_purge.c - the cache's quota and purge: what goes (least
 * recently used first, aged chunks), what never goes (pinned chunks, the
 * manifests of the retained versions, the chunk just added), a full disk
 * (ENOSPC: purge and retry once, else a clean failure), verification, and
 * a purge of 10,000 chunks.
 *
 * Access times come from a fake clock the tests set (pc_store_options.now),
 * so the LRU order is exactly the order the test reads chunks in.  The
 * full-disk tests run on a small tmpfs mounted in a private mount
 * namespace of this process (root only; skipped otherwise): nobody else
 * sees it, it cannot outlive the process, and the teardown unmounts it
 * even after a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_store_util.h"

#define KIB 1024u
#define MIB (1024u * 1024)

/* ---- fixtures: a fake clock and a captured log ---------------------------- */

static int64_t fake_now = 1000;

static int64_t clock_now(void *arg)
{
	(void)arg;
	return fake_now;
}

struct captured_log {
	char **lines;
	size_t count, cap;
};

static struct captured_log captured;

static void capture_line(void *arg, enum pc_log_level level, const char *line)
{
	struct captured_log *log = arg;

	(void)level;
	if (log->count == log->cap) {
		log->cap = log->cap ? 2 * log->cap : 256;
		log->lines = realloc(log->lines, log->cap * sizeof(char *));
		if (!log->lines)
			abort();
	}
	log->lines[log->count] = strdup(line);
	if (!log->lines[log->count])
		abort();
	log->count++;
}

static void log_clear(void)
{
	for (size_t i = 0; i < captured.count; i++)
		free(captured.lines[i]);
	free(captured.lines);
	memset(&captured, 0, sizeof(captured));
}

/* Lines that contain @text. */
static size_t log_count(const char *text)
{
	size_t n = 0;

	for (size_t i = 0; i < captured.count; i++)
		n += strstr(captured.lines[i], text) != NULL;
	return n;
}

static bool log_has_line(const char *line)
{
	for (size_t i = 0; i < captured.count; i++)
		if (strcmp(captured.lines[i], line) == 0)
			return true;
	return false;
}

static void assert_purge_logged(const struct pc_hash *hash, uint64_t size)
{
	char hex[PC_HASH_HEX_LEN + 1], line[256];

	pc_hash_to_hex(hash, hex);
	snprintf(line, sizeof(line), "purged content (hash = %s, size = %llu)",
		 hex, (unsigned long long)size);
	if (!log_has_line(line)) {
		print_error("not logged: \"%s\"\n", line);
		fail();
	}
}

static void assert_total_logged(uint64_t total)
{
	char line[64];

	snprintf(line, sizeof(line), "total purged size %llu",
		 (unsigned long long)total);
	if (!log_has_line(line)) {
		print_error("not logged: \"%s\"\n", line);
		fail();
	}
}

static int purge_setup(void **state)
{
	fake_now = 1000;
	log_clear();
	return store_test_setup(state);
}

static int purge_teardown(void **state)
{
	log_clear();
	return store_test_teardown(state);
}

#define purge_test(test) \
	cmocka_unit_test_setup_teardown(test, purge_setup, purge_teardown)

static struct pc_store *open_limited(const char *dir, uint64_t quota,
				     uint64_t max_age)
{
	struct pc_store_options opts = {
		.quota = quota,
		.max_age = max_age,
		.log = capture_line,
		.log_arg = &captured,
		.now = clock_now,
	};
	struct pc_store *store = NULL;
	char err[256] = "";

	assert_ok(pc_store_open_with(dir, &opts, &store, err, sizeof(err)),
		  err);
	return store;
}

/* Chunk @i of a test: @len distinct bytes. */
static void commit_nth(struct pc_store *store, unsigned i, size_t len,
		       struct pc_hash *hash)
{
	uint8_t *data = store_test_bytes(len, 1000 + i);

	store_test_commit(store, data, len, hash);
	free(data);
}

/* Reads chunk @hash at the fake time @when (the access is flushed). */
static void access_at(struct pc_store *store, const struct pc_hash *hash,
		      int64_t when)
{
	int fd;

	fake_now = when;
	fd = pc_store_chunk_open(store, hash);
	assert_true(fd >= 0);
	close(fd);
	assert_rc(pc_store_flush(store), 0);
}

static size_t files_found;

static int count_file(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	files_found += type == FTW_F;
	return 0;
}

/* Regular files under CACHE/chunks. */
static size_t count_chunk_files(const char *cache)
{
	char *chunks = pc_test_path(cache, "chunks");

	files_found = 0;
	assert_int_equal(nftw(chunks, count_file, 16, FTW_PHYS), 0);
	free(chunks);
	return files_found;
}

static uint64_t usage_bytes(struct pc_store *store)
{
	struct pc_store_usage usage;

	assert_rc(pc_store_usage(store, &usage), 0);
	return usage.bytes;
}

/* ---- quota -------------------------------------------------------------- */

static void test_store_purge_over_quota_drops_least_recently_used(void **state)
{
	struct pc_store *store = open_limited(*state, 100000, 0);
	struct pc_hash h[11];

	/* Ten chunks of 10,000 bytes fill the quota exactly, added at
	 * t = 1000..1009; then 0 and 1 are read again at t = 2000. */
	for (unsigned i = 0; i < 10; i++) {
		fake_now = 1000 + i;
		commit_nth(store, i, 10000, &h[i]);
		assert_rc(pc_store_flush(store), 0);
	}
	assert_int_equal(usage_bytes(store), 100000);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_CHUNKS), 0);
	access_at(store, &h[0], 2000);
	access_at(store, &h[1], 2000);

	/* The eleventh goes over: down to 90% = 90,000 bytes, so the two
	 * least recently used (2 and 3) go, and nothing else. */
	fake_now = 3000;
	commit_nth(store, 10, 10000, &h[10]);
	assert_int_equal(usage_bytes(store), 90000);
	for (unsigned i = 0; i < 11; i++)
		assert_int_equal(pc_store_chunk_present(store, &h[i]),
				 i != 2 && i != 3);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_CHUNKS), 2);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_BYTES), 20000);
	assert_purge_logged(&h[2], 10000);
	assert_purge_logged(&h[3], 10000);
	assert_total_logged(20000);
	assert_int_equal(log_count("purged content"), 2);
	pc_store_close(store);

	/* The index agrees: a reopen has nothing to repair. */
	log_clear();
	store = open_limited(*state, 100000, 0);
	assert_int_equal(log_count("cache recovery"), 0);
	assert_int_equal(usage_bytes(store), 90000);
	pc_store_close(store);
}

static void test_store_usage_is_live(void **state)
{
	struct pc_store *store = open_limited(*state, 0, 0);
	struct pc_store_usage usage;
	struct pc_hash a, b, c;
	uint64_t size = 0;
	char *path;

	commit_nth(store, 1, 3000, &a);
	commit_nth(store, 2, 5000, &b);
	/* No flush yet: counted all the same. */
	assert_rc(pc_store_usage(store, &usage), 0);
	assert_int_equal(usage.chunks, 2);
	assert_int_equal(usage.bytes, 8000);
	assert_rc(pc_store_chunk_size(store, &b, &size), 0);
	assert_int_equal(size, 5000);
	/* A duplicate download is not counted twice. */
	commit_nth(store, 2, 5000, NULL);
	assert_int_equal(usage_bytes(store), 8000);
	/* Discarded before its entry was ever flushed: gone from the usage,
	 * and the flush does not index a file that is not there. */
	assert_rc(pc_store_chunk_discard(store, &b), 0);
	assert_rc(pc_store_chunk_size(store, &b, &size), -ENOENT);
	assert_int_equal(usage_bytes(store), 3000);
	assert_rc(pc_store_flush(store), 0);

	/* fs/ discards a chunk file found with the wrong length: the usage
	 * drops by what was committed, not by what is left of it. */
	commit_nth(store, 3, 4000, &c);
	assert_rc(pc_store_flush(store), 0);
	path = store_test_chunk_file(*state, &c);
	assert_int_equal(truncate(path, 10), 0);
	free(path);
	assert_int_equal(usage_bytes(store), 7000);
	assert_rc(pc_store_chunk_discard(store, &c), 0);
	assert_int_equal(usage_bytes(store), 3000);
	pc_store_close(store);

	store = open_limited(*state, 0, 0);
	assert_int_equal(log_count("cache recovery"), 0);
	assert_rc(pc_store_usage(store, &usage), 0);
	assert_int_equal(usage.chunks, 1);
	assert_int_equal(usage.bytes, 3000);
	pc_store_close(store);
}

/* ---- what is never purged ------------------------------------------------ */

static void test_store_purge_keeps_pinned_chunks(void **state)
{
	struct pc_store *store = open_limited(*state, 0, 0);
	struct pc_chunk_ref file[2];
	struct pc_purge_result result;
	struct pc_hash h[5];

	for (unsigned i = 0; i < 5; i++) {
		fake_now = 1000 + i;
		commit_nth(store, i, 1000, &h[i]);
	}
	/* An open file with chunks 0 and 1, and chunk 3 pinned twice. */
	file[0].hash = h[0];
	file[0].len = 1000;
	file[1].hash = h[1];
	file[1].len = 1000;
	assert_rc(pc_store_pin_chunks(store, file, 2), 0);
	assert_rc(pc_store_pin(store, &h[3]), 0);
	assert_rc(pc_store_pin(store, &h[3]), 0);
	assert_true(pc_store_pinned(store, &h[0]));
	assert_false(pc_store_pinned(store, &h[2]));

	assert_rc(pc_store_purge(store, 0, &result), 0);
	assert_int_equal(result.chunks, 2);
	assert_int_equal(result.bytes, 2000);
	assert_int_equal(result.kept_pinned, 3);
	assert_int_equal(result.usage_bytes, 3000);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(pc_store_chunk_present(store, &h[i]),
				 i == 0 || i == 1 || i == 3);

	/* One unpin of two keeps chunk 3; the file's release frees 0, 1. */
	pc_store_unpin(store, &h[3]);
	pc_store_unpin_chunks(store, file, 2);
	assert_rc(pc_store_purge(store, 0, &result), 0);
	assert_int_equal(result.chunks, 2);
	assert_true(pc_store_chunk_present(store, &h[3]));
	pc_store_unpin(store, &h[3]);
	pc_store_unpin(store, &h[3]); /* not pinned: a no-op */
	assert_rc(pc_store_purge(store, 0, &result), 0);
	assert_int_equal(result.chunks, 1);
	assert_int_equal(usage_bytes(store), 0);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_CHUNKS), 5);
	pc_store_close(store);
}

/* Version @version of a one-file tree, its manifest committed as a chunk
 * (as net/ fetches it) and installed; *@manifest gets its hash. */
static void install_version(struct pc_store *store, uint64_t version,
			    const char *content, struct pc_hash *manifest)
{
	struct store_test_entry tree[] = {
		{ 'F', "defs.dat", content, 100, 0 },
	};
	struct pc_manifest *m;
	struct pc_head head;
	char *buf = NULL;
	size_t len = 0;

	m = store_test_manifest(tree, 1, 1000, version, &head);
	assert_rc(pc_manifest_serialize(m, &buf, &len), 0);
	store_test_commit(store, buf, len, manifest);
	assert_memory_equal(manifest->bytes, head.manifest.bytes, PC_HASH_LEN);
	store_test_commit(store, content, strlen(content), NULL);
	assert_rc(pc_store_install(store, &head, m, NULL), 0);
	free(buf);
	pc_manifest_free(m);
}

static void test_store_purge_keeps_retained_manifests(void **state)
{
	struct pc_store *store = open_limited(*state, 0, 0);
	struct pc_purge_result result;
	struct pc_hash manifest[3];

	install_version(store, 1, "version one\n", &manifest[0]);
	fake_now++;
	install_version(store, 2, "version two\n", &manifest[1]);
	fake_now++;
	install_version(store, 3, "version three\n", &manifest[2]);

	/* Everything goes but the manifests of 3 (current) and 2
	 * (previous); version 1 is no longer retained. */
	assert_rc(pc_store_purge(store, 0, &result), 0);
	assert_int_equal(result.chunks, 4);
	assert_int_equal(result.kept_retained, 2);
	assert_false(pc_store_chunk_present(store, &manifest[0]));
	assert_true(pc_store_chunk_present(store, &manifest[1]));
	assert_true(pc_store_chunk_present(store, &manifest[2]));
	assert_int_equal(log_count("purged content"), 4);
	pc_store_close(store);
}

static void test_store_purge_keeps_the_chunk_just_added(void **state)
{
	/* A quota smaller than one chunk (a file larger than the cache):
	 * the chunk a reader waits for stays, usage goes over for now. */
	struct pc_store *store = open_limited(*state, 1000, 0);
	struct pc_purge_result result;
	struct pc_hash a, b;

	commit_nth(store, 1, 5000, &a);
	assert_true(pc_store_chunk_present(store, &a));
	assert_int_equal(usage_bytes(store), 5000);
	fake_now++;
	commit_nth(store, 2, 5000, &b);
	assert_false(pc_store_chunk_present(store, &a));
	assert_true(pc_store_chunk_present(store, &b));
	assert_int_equal(pc_store_pin_file_limit(store), 250);

	/* A pinned file larger than the quota holds it above the quota;
	 * its release and the timer bring it back under. */
	assert_rc(pc_store_pin(store, &b), 0);
	assert_rc(pc_store_enforce_limits(store, &result), 0);
	assert_int_equal(result.kept_pinned, 1);
	assert_int_equal(result.usage_bytes, 5000);
	pc_store_unpin(store, &b);
	assert_rc(pc_store_enforce_limits(store, &result), 0);
	assert_int_equal(result.chunks, 1);
	assert_int_equal(usage_bytes(store), 0);
	pc_store_close(store);
}

#define RACE_CHUNKS 130 /* enough for three of the purge's unlink threads */
#define RACE_PINNED 8	/* the first few are pinned and unpinned in a loop */
#define RACE_ROUNDS 10

struct pin_race {
	struct pc_store *store;
	struct pc_hash h[RACE_CHUNKS];
	_Atomic bool stop;
	_Atomic unsigned checks, violations;
};

/* A file opened and closed over and over: a chunk present while pinned
 * must still be there before the unpin. */
static void *pin_loop(void *arg)
{
	struct pin_race *race = arg;

	while (!atomic_load(&race->stop)) {
		for (unsigned i = 0; i < RACE_PINNED; i++) {
			const struct pc_hash *h = &race->h[i];

			if (pc_store_pin(race->store, h) < 0)
				abort();
			if (pc_store_chunk_present(race->store, h)) {
				sched_yield();
				atomic_fetch_add(&race->checks, 1);
				if (!pc_store_chunk_present(race->store, h))
					atomic_fetch_add(&race->violations, 1);
			}
			pc_store_unpin(race->store, h);
		}
	}
	return NULL;
}

static void test_store_purge_races_with_pins(void **state)
{
	struct pin_race race = { .store = open_limited(*state, 0, 0) };
	struct pc_purge_result result;
	uint64_t purged = 0;
	pthread_t thread;

	for (unsigned i = 0; i < RACE_CHUNKS; i++)
		commit_nth(race.store, i, 100, &race.h[i]);
	assert_int_equal(pthread_create(&thread, NULL, pin_loop, &race), 0);
	for (unsigned round = 0; round < RACE_ROUNDS; round++) {
		for (unsigned i = 0; i < RACE_CHUNKS; i++)
			if (!pc_store_chunk_present(race.store, &race.h[i]))
				commit_nth(race.store, i, 100, NULL);
		assert_rc(pc_store_purge(race.store, 0, &result), 0);
		purged += result.chunks;
	}
	atomic_store(&race.stop, true);
	pthread_join(thread, NULL);
	print_message("%llu chunks purged, %u pinned checks\n",
		      (unsigned long long)purged, atomic_load(&race.checks));
	assert_true(purged >= RACE_ROUNDS * (RACE_CHUNKS - RACE_PINNED));
	assert_int_equal(atomic_load(&race.violations), 0);
	/* The live usage is still exact. */
	assert_int_equal(usage_bytes(race.store),
			 100 * (uint64_t)count_chunk_files(*state));
	pc_store_close(race.store);
}

/* ---- age, --to, --all ---------------------------------------------------- */

static void test_store_purge_aged_chunks(void **state)
{
	struct pc_store *store = open_limited(*state, 0, 0);
	struct pc_purge_result result;
	struct pc_hash a, b, c, d;

	fake_now = 1000;
	commit_nth(store, 1, 100, &a);
	commit_nth(store, 4, 400, &d);
	assert_rc(pc_store_flush(store), 0);
	fake_now = 2000;
	commit_nth(store, 2, 200, &b);
	assert_rc(pc_store_flush(store), 0);
	fake_now = 3000;
	commit_nth(store, 3, 300, &c);
	assert_rc(pc_store_flush(store), 0);
	access_at(store, &a, 3500); /* a is old but was read recently */
	assert_rc(pc_store_pin(store, &d), 0);

	/* At t = 4000 with a maximum age of 1500 s: b (2000) goes; a
	 * (3500) and c (3000) were accessed within it; d is pinned. */
	fake_now = 4000;
	assert_rc(pc_store_purge_aged(store, 1500, &result), 0);
	assert_int_equal(result.chunks, 1);
	assert_int_equal(result.bytes, 200);
	assert_false(pc_store_chunk_present(store, &b));
	assert_true(pc_store_chunk_present(store, &a));
	assert_true(pc_store_chunk_present(store, &c));
	assert_true(pc_store_chunk_present(store, &d));
	assert_purge_logged(&b, 200);
	assert_total_logged(200);

	/* The timer's call uses the configured age: exactly 1000 s old
	 * (c) counts as not accessed within 1000 s. */
	pc_store_set_limits(store, 0, 1000);
	assert_rc(pc_store_enforce_limits(store, &result), 0);
	assert_int_equal(result.chunks, 1);
	assert_false(pc_store_chunk_present(store, &c));
	assert_true(pc_store_chunk_present(store, &a));
	assert_true(pc_store_chunk_present(store, &d));
	pc_store_close(store);
}

static void test_store_purge_to_size_and_all(void **state)
{
	struct pc_store *store = open_limited(*state, 0, 0);
	struct pc_purge_result result;
	struct pc_hash h[6];

	for (unsigned i = 0; i < 6; i++) {
		fake_now = 1000 + i; /* the access time of a new chunk */
		commit_nth(store, i, 1000 * (i + 1), &h[i]);
	}
	access_at(store, &h[0], 5000);
	/* 21,000 bytes; --to 12000: LRU order is 1, 2, 3, 4, 5, 0, so 1
	 * (2000), 2 (3000) and 3 (4000) go, leaving 12,000. */
	assert_rc(pc_store_purge(store, 12000, &result), 0);
	assert_int_equal(result.chunks, 3);
	assert_int_equal(result.bytes, 9000);
	assert_int_equal(result.usage_bytes, 12000);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(pc_store_chunk_present(store, &h[i]),
				 i == 0 || i == 4 || i == 5);
	assert_total_logged(9000);

	/* Already under: nothing to do, nothing logged. */
	log_clear();
	assert_rc(pc_store_purge(store, 12000, &result), 0);
	assert_int_equal(result.chunks, 0);
	assert_int_equal(captured.count, 0);

	/* --all */
	assert_rc(pc_store_purge(store, 0, &result), 0);
	assert_int_equal(result.chunks, 3);
	assert_int_equal(result.bytes, 12000);
	assert_int_equal(usage_bytes(store), 0);
	assert_int_equal(count_chunk_files(*state), 0);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_BYTES), 21000);
	pc_store_close(store);

	/* Read-only views cannot purge. */
	{
		struct pc_store *view = NULL;

		assert_rc(pc_store_open_readonly(*state, &view, NULL, 0), 0);
		assert_rc(pc_store_purge(view, 0, NULL), -EROFS);
		assert_rc(pc_store_verify(view, NULL), -EROFS);
		pc_store_close(view);
	}
}

/* ---- verify ---------------------------------------------------------------- */

static void flip_byte(const char *path, off_t where)
{
	int fd = open(path, O_RDWR);
	uint8_t byte;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, where), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, where), 1);
	close(fd);
}

static void test_store_verify_removes_damaged_chunks(void **state)
{
	struct pc_store *store = open_limited(*state, 0, 0);
	struct pc_verify_result result;
	struct pc_hash good, flipped, cut;
	char *path;

	commit_nth(store, 1, 70000, &good);
	commit_nth(store, 2, 80000, &flipped);
	commit_nth(store, 3, 90000, &cut);
	path = store_test_chunk_file(*state, &flipped);
	flip_byte(path, 40000);
	free(path);
	path = store_test_chunk_file(*state, &cut);
	assert_int_equal(truncate(path, 1000), 0);
	free(path);

	assert_rc(pc_store_verify(store, &result), 0);
	assert_int_equal(result.checked, 3);
	assert_int_equal(result.bad, 2);
	assert_int_equal(result.bad_bytes, 80000 + 90000);
	assert_int_equal(result.bytes, 70000 + 80000);
	assert_true(pc_store_chunk_present(store, &good));
	assert_false(pc_store_chunk_present(store, &flipped));
	assert_false(pc_store_chunk_present(store, &cut));
	assert_int_equal(usage_bytes(store), 70000);
	assert_int_equal(log_count("verify: removed chunk"), 2);

	/* A second run finds nothing; the cache can fetch them again. */
	assert_rc(pc_store_verify(store, &result), 0);
	assert_int_equal(result.checked, 1);
	assert_int_equal(result.bad, 0);
	commit_nth(store, 2, 80000, NULL);
	assert_true(pc_store_chunk_present(store, &flipped));
	pc_store_close(store);

	log_clear();
	store = open_limited(*state, 0, 0);
	assert_int_equal(log_count("cache recovery"), 0);
	assert_int_equal(usage_bytes(store), 150000);
	pc_store_close(store);
}

/* ---- a full disk: tmpfs in a private mount namespace ---------------------- */

/* Mounts made from here on are this process's alone. */
static bool private_mounts(void)
{
	static int entered = -1;

	if (entered < 0)
		entered =
			geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
			mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	return entered;
}

static int tmpfs_setup(void **state, const char *size)
{
	char template[] = "/tmp/pc-store-tmpfs-XXXXXX";
	char options[64];
	char *dir;

	fake_now = 1000;
	log_clear();
	*state = NULL;
	if (!private_mounts())
		return 0; /* the test skips */
	dir = mkdtemp(template);
	if (!dir)
		return -1;
	snprintf(options, sizeof(options), "size=%s,mode=0700", size);
	if (mount("pc-store-tmpfs", dir, "tmpfs", 0, options) < 0) {
		rmdir(dir);
		return -1;
	}
	*state = strdup(dir);
	return *state ? 0 : -1;
}

static int tmpfs_teardown(void **state)
{
	char *dir = *state;

	log_clear();
	if (!dir)
		return 0;
	if (umount2(dir, MNT_DETACH) < 0)
		print_error("umount %s: %s\n", dir, strerror(errno));
	rmdir(dir);
	free(dir);
	return 0;
}

static int tmpfs_16m_setup(void **state)
{
	return tmpfs_setup(state, "16m");
}

static int tmpfs_64m_setup(void **state)
{
	return tmpfs_setup(state, "64m");
}

#define tmpfs_test(test, size)                                      \
	cmocka_unit_test_setup_teardown(test, tmpfs_##size##_setup, \
					tmpfs_teardown)

static uint64_t free_bytes(const char *dir)
{
	struct statvfs st;

	assert_int_equal(statvfs(dir, &st), 0);
	return (uint64_t)st.f_bavail * st.f_frsize;
}

#define FILL_CHUNK (256 * KIB)
#define BIG_CHUNK (2 * FILL_CHUNK)

/* Fills the disk with FILL_CHUNK chunks (t = 1000, 1001, ...) until less
 * than a BIG_CHUNK is left; returns how many (hashes in @h). */
static unsigned fill_disk(struct pc_store *store, const char *dir,
			  struct pc_hash *h, unsigned max)
{
	unsigned n = 0;

	/* A margin for the index, which lives on the same disk. */
	while (free_bytes(dir) >= FILL_CHUNK + 64 * KIB) {
		assert_true(n < max);
		fake_now = 1000 + n;
		commit_nth(store, n, FILL_CHUNK, &h[n]);
		assert_rc(pc_store_flush(store), 0);
		n++;
	}
	assert_true(free_bytes(dir) < BIG_CHUNK);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_CHUNKS), 0);
	return n;
}

/* Writes BIG_CHUNK bytes through tmp/; returns the commit's result (or
 * the first write error, after an abort). */
static int try_big_chunk(struct pc_store *store, unsigned seed,
			 struct pc_hash *hash)
{
	uint8_t *data = store_test_bytes(BIG_CHUNK, seed);
	struct pc_store_tmp *tmp;
	int rc;

	pc_sha256(data, BIG_CHUNK, hash);
	tmp = pc_store_tmp_begin(store, hash, BIG_CHUNK);
	if (!tmp) {
		rc = -errno;
	} else {
		rc = pc_store_tmp_write(tmp, data, BIG_CHUNK);
		if (rc == 0)
			rc = pc_store_tmp_commit(tmp);
		else
			assert_rc(pc_store_tmp_commit(tmp), rc);
	}
	free(data);
	return rc;
}

static void test_store_enospc_purges_and_retries(void **state)
{
	struct pc_store *store;
	struct pc_hash h[70], big;
	unsigned n, purged;

	if (!*state)
		skip();
	store = open_limited(*state, 0, 0); /* no quota: only the disk */
	n = fill_disk(store, *state, h, 70);
	assert_true(n > 20);

	fake_now = 5000;
	assert_rc(try_big_chunk(store, 99, &big), 0);
	assert_true(pc_store_chunk_present(store, &big));
	assert_int_equal(log_count("the cache's disk is full"), 1);
	/* What it still needed plus the slack went, oldest first. */
	purged = (unsigned)pc_store_counter(store, PC_CTR_PURGED_CHUNKS);
	assert_true(purged * FILL_CHUNK >= PC_STORE_ENOSPC_SLACK);
	assert_true(purged < n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(pc_store_chunk_present(store, &h[i]),
				 i >= purged);
	assert_purge_logged(&h[0], FILL_CHUNK);
	assert_int_equal(usage_bytes(store),
			 (uint64_t)(n - purged) * FILL_CHUNK + BIG_CHUNK);
	pc_store_close(store);

	log_clear();
	store = open_limited(*state, 0, 0);
	assert_int_equal(log_count("cache recovery"), 0);
	assert_int_equal(usage_bytes(store),
			 (uint64_t)(n - purged) * FILL_CHUNK + BIG_CHUNK);
	pc_store_close(store);
}

static void test_store_enospc_fails_cleanly_when_nothing_can_go(void **state)
{
	struct pc_store *store;
	struct pc_hash h[70], big;
	char *tmpdir;
	uint64_t before;
	unsigned n;

	if (!*state)
		skip();
	tmpdir = pc_test_path(*state, "tmp");
	store = open_limited(*state, 0, 0);
	n = fill_disk(store, *state, h, 70);
	for (unsigned i = 0; i < n; i++)
		assert_rc(pc_store_pin(store, &h[i]), 0); /* all open */
	before = usage_bytes(store);

	fake_now = 5000;
	assert_rc(try_big_chunk(store, 99, &big), -ENOSPC);
	assert_false(pc_store_chunk_present(store, &big));
	assert_int_equal(store_test_count_files(tmpdir), 0);
	assert_int_equal(usage_bytes(store), before);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_CHUNKS), 0);
	for (unsigned i = 0; i < n; i++)
		assert_true(pc_store_chunk_present(store, &h[i]));
	assert_rc(pc_store_flush(store), 0);
	pc_store_close(store);

	/* The index is consistent: nothing to repair at the next start. */
	log_clear();
	store = open_limited(*state, 0, 0);
	assert_int_equal(log_count("cache recovery"), 0);
	assert_int_equal(usage_bytes(store), before);

	/* The files are closed now (no pins after a restart): the same
	 * download purges what it needs and succeeds. */
	assert_rc(try_big_chunk(store, 99, &big), 0);
	assert_true(pc_store_chunk_present(store, &big));
	assert_false(pc_store_chunk_present(store, &h[0]));
	assert_true(pc_store_chunk_present(store, &h[n - 1]));
	pc_store_close(store);
	free(tmpdir);
}

/* ---- 10,000 chunks ------------------------------------------------------- */

#define MANY 10000

static void test_store_purge_10000_chunks(void **state)
{
	struct pc_store *store;
	struct pc_purge_result result;
	struct timespec t0, t1;
	struct pc_hash kept;
	char data[32];
	double seconds;

	if (!*state)
		skip();
	store = open_limited(*state, 0, 0);
	for (unsigned i = 0; i <= MANY; i++) {
		int len = snprintf(data, sizeof(data), "tiny chunk %u", i);

		fake_now = 1000 + i / 100;
		store_test_commit(store, data, (size_t)len,
				  i == MANY / 2 ? &kept : NULL);
	}
	assert_rc(pc_store_flush(store), 0);
	assert_rc(pc_store_pin(store, &kept), 0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_rc(pc_store_purge(store, 0, &result), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	seconds = (double)(t1.tv_sec - t0.tv_sec) +
		  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("purged %llu chunks in %.3f s\n",
		      (unsigned long long)result.chunks, seconds);

	assert_int_equal(result.chunks, MANY);
	assert_int_equal(result.kept_pinned, 1);
	assert_int_equal(log_count("purged content (hash = "), MANY);
	assert_total_logged(result.bytes);
	assert_int_equal(pc_store_counter(store, PC_CTR_PURGED_CHUNKS), MANY);
	assert_true(pc_store_chunk_present(store, &kept));
	assert_int_equal(usage_bytes(store), strlen("tiny chunk 5000"));
	pc_store_close(store);

	log_clear();
	store = open_limited(*state, 0, 0);
	assert_int_equal(log_count("cache recovery"), 0);
	assert_int_equal(usage_bytes(store), strlen("tiny chunk 5000"));
	pc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		purge_test(
			test_store_purge_over_quota_drops_least_recently_used),
		purge_test(test_store_usage_is_live),
		purge_test(test_store_purge_keeps_pinned_chunks),
		purge_test(test_store_purge_keeps_retained_manifests),
		purge_test(test_store_purge_keeps_the_chunk_just_added),
		purge_test(test_store_purge_races_with_pins),
		purge_test(test_store_purge_aged_chunks),
		purge_test(test_store_purge_to_size_and_all),
		purge_test(test_store_verify_removes_damaged_chunks),
		tmpfs_test(test_store_enospc_purges_and_retries, 16m),
		tmpfs_test(test_store_enospc_fails_cleanly_when_nothing_can_go,
			   16m),
		tmpfs_test(test_store_purge_10000_chunks, 64m),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
