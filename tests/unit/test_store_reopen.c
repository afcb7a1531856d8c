/*
 * test_store_reopen.c - the start-up reconcile is skipped after a clean
 * close, and only then (store.c's clean-close mark):
 *  - a close whose last sync point and flush succeeded marks the cache,
 *    and the next open skips the reconcile (a file planted in chunks/
 *    meanwhile stays: nothing looked);
 *  - a daemon killed without closing (kill -9: a forked child that
 *    _exit()s) reconciles at the next open, also when the open before it
 *    had found the mark: an open takes the mark away (synced) first.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_store_util.h"

#define JUNK_NAME \
	"ab/ab00000000000000000000000000000000000000000000000000000000000000"

static bool saw_clean, saw_recovery;

static void capture_log(void *arg, enum pc_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	if (strstr(line, "closed cleanly"))
		saw_clean = true;
	if (strstr(line, "cache recovery:"))
		saw_recovery = true;
}

static struct pc_store *open_logged(const char *dir)
{
	struct pc_store_options opts = { .log = capture_log };
	struct pc_store *store = NULL;
	char err[256] = "";

	saw_clean = saw_recovery = false;
	assert_ok(pc_store_open_with(dir, &opts, &store, err, sizeof(err)),
		  err);
	return store;
}

/* A file in chunks/ that no chunk has: the reconcile removes it. */
static char *plant_junk(const char *dir)
{
	char *chunks = pc_test_path(dir, "chunks/ab");
	char *path = pc_test_path(dir, "chunks/" JUNK_NAME);

	mkdir(chunks, 0755);
	pc_test_write_file(path, "junk", 4);
	free(chunks);
	return path;
}

/* A daemon that opens the cache, commits a chunk and dies unclosed. */
static void crash_in_child(const char *dir)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pc_store *store = NULL;
		uint8_t data[1000] = { 1 };

		if (pc_store_open(dir, &store, NULL, 0) < 0)
			_exit(1);
		store_test_commit(store, data, sizeof(data), NULL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_store_reopen_skips_after_clean_close(void **state)
{
	struct pc_store *store = open_logged(*state);
	uint8_t data[1000] = { 7 };
	char *junk;

	store_test_commit(store, data, sizeof(data), NULL);
	pc_store_close(store);
	junk = plant_junk(*state);
	store = open_logged(*state);
	assert_true(saw_clean);
	assert_false(saw_recovery);
	assert_int_equal(access(junk, F_OK), 0); /* nobody looked */
	pc_store_close(store);
	free(junk);
}

static void test_store_reopen_reconciles_after_crash(void **state)
{
	struct pc_store *store = open_logged(*state);
	char *junk;

	pc_store_close(store);	/* clean: marked */
	crash_in_child(*state); /* took the mark, then died */
	junk = plant_junk(*state);
	store = open_logged(*state);
	assert_false(saw_clean);
	assert_true(saw_recovery);
	assert_int_equal(access(junk, F_OK), -1); /* removed */
	pc_store_close(store);
	free(junk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(test_store_reopen_skips_after_clean_close),
		store_unit_test(test_store_reopen_reconciles_after_crash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
