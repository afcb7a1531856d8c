/*
 * test_store_commit.c - group commit (store/commit.c): a chunk committed
 * with pc_store_tmp_commit_hashed is readable at once, indexed only after
 * the sync point that made it durable, and a crash before that point costs
 * a re-hash of that batch at the next start, not of the whole cache.
 *
 * What the start-up reconcile had to re-hash is read from its summary line
 * ("indexed N chunk files"), through the store's log hook.  Crashes are
 * forked children that _exit() without closing the store (LMDB allows one
 * environment per process, as in production).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_store_util.h"

#define CHUNK_LEN 30000

/* Checks in a forked child, where cmocka cannot report: print and exit. */
#define CHILD_CHECK(cond)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: child check failed: %s\n", \
				__FILE__, __LINE__, #cond);                \
			_exit(1);                                          \
		}                                                          \
	} while (0)

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The reconcile's summary, captured by the log hook. */
static char recovery_line[512];

static void capture_log(void *arg, enum pc_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	if (strstr(line, "cache recovery:"))
		snprintf(recovery_line, sizeof(recovery_line), "%s", line);
}

/* Opens @dir and returns how many chunk files its reconcile re-hashed and
 * indexed (0 when it had nothing to repair). */
static unsigned long open_counting(const char *dir, struct pc_store **out)
{
	struct pc_store_options opts = { .log = capture_log };
	unsigned long indexed = 0;
	const char *at;
	char err[256];

	recovery_line[0] = '\0';
	if (pc_store_open_with(dir, &opts, out, err, sizeof(err)) < 0) {
		print_error("open %s: %s\n", dir, err);
		fail();
	}
	at = strstr(recovery_line, "indexed ");
	if (at)
		indexed = strtoul(at + 8, NULL, 10);
	return indexed;
}

/* Writes chunk @seed through tmp/ and commits it the group-commit way;
 * returns pc_store_tmp_commit_hashed()'s result. */
static int commit_hashed(struct pc_store *store, uint64_t seed, size_t len,
			 struct pc_hash *hash)
{
	uint8_t *data = store_test_bytes(len, seed);
	struct pc_store_tmp *tmp;
	int rc;

	pc_sha256(data, len, hash);
	tmp = pc_store_tmp_begin(store, hash, len);
	rc = tmp ? pc_store_tmp_write(tmp, data, len) : -errno;
	if (tmp)
		rc = rc ? (pc_store_tmp_abort(tmp), rc)
			: pc_store_tmp_commit_hashed(tmp, hash);
	free(data);
	return rc;
}

enum child_end {
	END_AT_ONCE,
	END_AFTER_SYNC,
	END_AFTER_WAIT
};

/* A daemon that commits @n chunks and dies (kill -9: no close). */
static void child_commits(const char *dir, unsigned n, enum child_end end)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		/* No sync point on its own before the end (under a sanitizer,
		 * three commits can take longer than the usual 50 ms). */
		struct pc_store_options opts = { .sync_interval_ms = 60000 };
		struct pc_store *store = NULL;
		struct pc_hash hash;

		if (end == END_AFTER_WAIT)
			opts.sync_interval_ms = 0;
		CHILD_CHECK(pc_store_open_with(dir, &opts, &store, NULL, 0) ==
			    0);
		for (unsigned i = 0; i < n; i++)
			CHILD_CHECK(commit_hashed(store, 100 + i, CHUNK_LEN,
						  &hash) == 0);
		if (end == END_AFTER_SYNC)
			CHILD_CHECK(pc_store_sync(store) == 0);
		if (end == END_AFTER_WAIT) /* the syncer's interval, 10x */
			usleep(500 * 1000);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_commit_hashed_is_readable_at_once(void **state)
{
	struct pc_store *store = store_test_open(*state);
	uint8_t *data = store_test_bytes(CHUNK_LEN, 7);
	uint8_t back[CHUNK_LEN];
	struct pc_hash hash;
	int fd;

	assert_rc(commit_hashed(store, 7, CHUNK_LEN, &hash), 0);
	fd = pc_store_chunk_open(store, &hash);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, sizeof(back), 0), CHUNK_LEN);
	assert_memory_equal(back, data, CHUNK_LEN);
	close(fd);
	/* Committing it again (a second download) is not an error. */
	assert_rc(commit_hashed(store, 7, CHUNK_LEN, &hash), 0);
	pc_store_close(store);
	free(data);
}

static void test_commit_hashed_refuses_wrong_bytes(void **state)
{
	struct pc_store *store = store_test_open(*state);
	char *chunks = pc_test_path(*state, "chunks"),
	     *tmpdir = pc_test_path(*state, "tmp");
	uint8_t *data = store_test_bytes(CHUNK_LEN, 8);
	struct pc_hash hash, other;
	struct pc_store_tmp *tmp;

	pc_sha256(data, CHUNK_LEN, &hash);
	pc_sha256(data, CHUNK_LEN - 1, &other);
	/* The caller's hash of what it wrote is not the expected one. */
	tmp = pc_store_tmp_begin(store, &hash, CHUNK_LEN);
	assert_rc(pc_store_tmp_write(tmp, data, CHUNK_LEN), 0);
	assert_rc(pc_store_tmp_commit_hashed(tmp, &other), -EBADMSG);
	/* Right hash, but a byte short. */
	tmp = pc_store_tmp_begin(store, &hash, CHUNK_LEN);
	assert_rc(pc_store_tmp_write(tmp, data, CHUNK_LEN - 1), 0);
	assert_rc(pc_store_tmp_commit_hashed(tmp, &hash), -EBADMSG);
	assert_false(pc_store_chunk_present(store, &hash));
	assert_int_equal(store_test_count_files(tmpdir), 0);
	assert_int_equal(store_test_count_files(chunks), 0);
	pc_store_close(store);
	free(chunks);
	free(tmpdir);
	free(data);
}

/* Killed before the sync point: the next start re-hashes that batch (and
 * indexes it); killed after one: nothing to re-hash. */
static void test_commit_crash_costs_only_the_batch(void **state)
{
	struct pc_store *store;

	child_commits(*state, 3, END_AT_ONCE);
	assert_int_equal(open_counting(*state, &store), 3);
	pc_store_close(store);
	/* Those three are indexed now: a clean start re-hashes nothing. */
	assert_int_equal(open_counting(*state, &store), 0);
	pc_store_close(store);

	child_commits(*state, 2, END_AFTER_SYNC);
	assert_int_equal(open_counting(*state, &store), 0);
	pc_store_close(store);
}

/* The syncer thread makes a batch durable on its own within its interval;
 * close runs the last sync point. */
static void test_commit_syncer_and_close_sync(void **state)
{
	struct pc_store *store;
	struct pc_hash hash;

	child_commits(*state, 2, END_AFTER_WAIT);
	assert_int_equal(open_counting(*state, &store), 0);
	assert_rc(commit_hashed(store, 50, CHUNK_LEN, &hash), 0);
	pc_store_close(store);
	assert_int_equal(open_counting(*state, &store), 0);
	assert_true(pc_store_chunk_present(store, &hash));
	pc_store_close(store);
}

/* A purge sees chunks that wait for their sync point (they are the
 * cache's too), and the syncer purges down to the quota by itself. */
static void test_commit_purges_see_unsynced_chunks(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store_usage usage;
	struct pc_purge_result r;
	struct pc_hash hash;
	double deadline;

	for (unsigned i = 0; i < 4; i++)
		assert_rc(commit_hashed(store, 200 + i, CHUNK_LEN, &hash), 0);
	assert_rc(pc_store_purge(store, 0, &r), 0);
	assert_int_equal(r.chunks, 4);
	assert_rc(pc_store_usage(store, &usage), 0);
	assert_int_equal(usage.bytes, 0);

	pc_store_set_limits(store, 4 * CHUNK_LEN, 0);
	for (unsigned i = 0; i < 12; i++)
		assert_rc(commit_hashed(store, 300 + i, CHUNK_LEN, &hash), 0);
	deadline = now_seconds() + 5;
	do {
		assert_rc(pc_store_usage(store, &usage), 0);
		if (usage.bytes <= 4 * CHUNK_LEN)
			break;
		usleep(10 * 1000);
	} while (now_seconds() < deadline);
	assert_true(usage.bytes <= 4 * CHUNK_LEN);
	pc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(test_commit_hashed_is_readable_at_once),
		store_unit_test(test_commit_hashed_refuses_wrong_bytes),
		store_unit_test(test_commit_crash_costs_only_the_batch),
		store_unit_test(test_commit_syncer_and_close_sync),
		store_unit_test(test_commit_purges_see_unsynced_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
