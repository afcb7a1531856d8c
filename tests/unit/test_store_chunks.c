/*
 * test_store_chunks.c - the chunk half of the store: downloads are
 * verified before anyone can open them, one daemon owns a cache, a crash at
 * any point is repaired at the next start, counters survive restarts, and
 * tools can read the index while the daemon runs.
 *
 * Each test works in its own scratch directory under /tmp.  Where a test
 * needs a second process (a crash, a tool beside the daemon) it forks: LMDB
 * allows one environment per process, exactly as in production.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
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

#define MIB (1024u * 1024)

/* Checks in a forked child, where cmocka cannot report: print and exit. */
#define CHILD_CHECK(cond)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: child check failed: %s\n", \
				__FILE__, __LINE__, #cond);                \
			_exit(1);                                          \
		}                                                          \
	} while (0)

static void wait_child(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child process failed (status %d)\n", status);
		fail();
	}
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The whole content of chunk @hash, read through pc_store_chunk_open. */
static void assert_chunk_content(struct pc_store *store,
				 const struct pc_hash *hash, const void *data,
				 size_t len)
{
	uint8_t *buf = malloc(len + 1);
	int fd = pc_store_chunk_open(store, hash);
	ssize_t n;

	assert_non_null(buf);
	if (fd < 0) {
		print_error("chunk_open: %s\n", strerror(-fd));
		fail();
	}
	n = pread(fd, buf, len + 1, 0);
	close(fd);
	assert_int_equal(n, len);
	assert_memory_equal(buf, data, len);
	free(buf);
}

static void assert_usage(struct pc_store *store, uint64_t chunks,
			 uint64_t bytes)
{
	struct pc_store_usage usage;

	assert_rc(pc_store_usage(store, &usage), 0);
	assert_int_equal(usage.chunks, chunks);
	assert_int_equal(usage.bytes, bytes);
}

/* Flips the byte at @offset of the only file in @tmpdir. */
static void corrupt_the_one_tmp_file(const char *tmpdir, off_t offset)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *entry;
	int fd = -1, found = 0;
	uint8_t byte;

	assert_non_null(dir);
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		found++;
		fd = openat(dirfd(dir), entry->d_name, O_RDWR | O_CLOEXEC);
	}
	closedir(dir);
	assert_int_equal(found, 1);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, offset), 1);
	byte ^= 0x5a;
	assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
	close(fd);
}

static void test_store_chunk_commit_verifies_hash_and_length(void **state)
{
	const char *dir = *state;
	char *tmpdir = pc_test_path(dir, "tmp");
	uint8_t *good = store_test_bytes(100000, 1);
	uint8_t *big = store_test_bytes(5 * MIB, 2); /* a manifest's size */
	struct pc_store *store = store_test_open(dir);
	struct pc_store_tmp *tmp, *twin;
	struct pc_hash hash, wrong;
	char *file;

	/* A good download, written in pieces, is readable once committed. */
	pc_sha256(good, 100000, &hash);
	assert_false(pc_store_chunk_present(store, &hash));
	assert_rc(pc_store_chunk_open(store, &hash), -ENOENT);
	tmp = pc_store_tmp_begin(store, &hash, 100000);
	assert_non_null(tmp);
	assert_rc(pc_store_tmp_write(tmp, good, 60000), 0);
	assert_rc(pc_store_tmp_write(tmp, good + 60000, 40000), 0);
	assert_int_equal(pc_store_tmp_written(tmp), 100000);
	assert_rc(pc_store_chunk_open(store, &hash), -ENOENT); /* not yet */
	assert_rc(pc_store_tmp_commit(tmp), 0);
	assert_true(pc_store_chunk_present(store, &hash));
	assert_chunk_content(store, &hash, good, 100000);
	assert_rc(pc_store_flush(store), 0);
	assert_usage(store, 1, 100000);

	/* Wrong bytes of the right length: refused, nothing in chunks/. */
	pc_sha256("something else", 14, &wrong);
	tmp = pc_store_tmp_begin(store, &wrong, 14);
	assert_non_null(tmp);
	assert_rc(pc_store_tmp_write(tmp, "something ELSE", 14), 0);
	assert_rc(pc_store_tmp_commit(tmp), -EBADMSG);
	file = store_test_chunk_file(dir, &wrong);
	assert_false(file_exists(file));
	free(file);
	assert_false(pc_store_chunk_present(store, &wrong));

	/* The file is what commit hashes, not the bytes handed to write():
	 * a byte changed in tmp/ behind the store's back is caught. */
	tmp = pc_store_tmp_begin(store, &hash, 100000);
	assert_non_null(tmp);
	assert_rc(pc_store_tmp_write(tmp, good, 100000), 0);
	assert_rc(pc_store_chunk_discard(store, &hash), 0);
	corrupt_the_one_tmp_file(tmpdir, 4242);
	assert_rc(pc_store_tmp_commit(tmp), -EBADMSG);
	assert_false(pc_store_chunk_present(store, &hash));
	store_test_commit(store, good, 100000, &hash); /* as before */

	/* Too few bytes: refused. */
	tmp = pc_store_tmp_begin(store, &wrong, 14);
	assert_non_null(tmp);
	assert_rc(pc_store_tmp_write(tmp, "something", 9), 0);
	assert_rc(pc_store_tmp_commit(tmp), -EBADMSG);

	/* Too many bytes: the write is refused and the caller aborts. */
	tmp = pc_store_tmp_begin(store, &wrong, 14);
	assert_non_null(tmp);
	assert_rc(pc_store_tmp_write(tmp, "something else!", 15), -EFBIG);
	pc_store_tmp_abort(tmp);
	assert_false(pc_store_chunk_present(store, &wrong));
	/* ... and a commit after the refused write fails too, even though
	 * the bytes that were written are right. */
	tmp = pc_store_tmp_begin(store, &wrong, 14);
	assert_non_null(tmp);
	assert_rc(pc_store_tmp_write(tmp, "something else", 14), 0);
	assert_rc(pc_store_tmp_write(tmp, "!", 1), -EFBIG);
	assert_rc(pc_store_tmp_commit(tmp), -EFBIG);
	assert_false(pc_store_chunk_present(store, &wrong));

	/* Objects beyond PC_CHUNK_MAX (manifests) are fine; beyond
	 * PC_MANIFEST_MAX refused up front. */
	store_test_commit(store, big, 5 * MIB, &hash);
	assert_chunk_content(store, &hash, big, 5 * MIB);
	errno = 0;
	assert_null(pc_store_tmp_begin(store, &hash, PC_MANIFEST_MAX + 1));
	assert_int_equal(errno, EFBIG);

	/* Two downloads of one chunk racing: both succeed, one file. */
	pc_sha256(good, 5000, &hash);
	tmp = pc_store_tmp_begin(store, &hash, 5000);
	twin = pc_store_tmp_begin(store, &hash, 5000);
	assert_non_null(tmp);
	assert_non_null(twin);
	assert_rc(pc_store_tmp_write(tmp, good, 5000), 0);
	assert_rc(pc_store_tmp_write(twin, good, 5000), 0);
	assert_rc(pc_store_tmp_commit(tmp), 0);
	assert_rc(pc_store_tmp_commit(twin), 0);
	assert_chunk_content(store, &hash, good, 5000);

	/* Nothing is left behind in tmp/; the index counts each chunk once. */
	assert_int_equal(store_test_count_files(tmpdir), 0);
	assert_rc(pc_store_flush(store), 0);
	assert_usage(store, 3, 100000 + 5 * MIB + 5000);

	pc_store_close(store);
	free(good);
	free(big);
	free(tmpdir);
}

static void test_store_second_open_is_refused(void **state)
{
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir), *second = NULL;
	char err[256] = "", want[128];

	snprintf(want, sizeof(want), "in use by another peercache (pid %ld)",
		 (long)getpid());
	assert_error(pc_store_open(dir, &second, err, sizeof(err)), -EBUSY, err,
		     want);
	assert_null(second);
	assert_non_null(strstr(err, dir));
	/* A read-only view in the same process would reset LMDB's locks. */
	assert_error(pc_store_open_readonly(dir, &second, err, sizeof(err)),
		     -EBUSY, err, "already open in this process");
	pc_store_close(store);

	/* Once closed, the cache can be opened again. */
	store = store_test_open(dir);
	pc_store_close(store);
}

/* A daemon that commits a chunk and dies before any flush. */
static void crash_after_commit(const char *dir, const void *data, size_t len)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pc_store *store = NULL;
		struct pc_store_tmp *tmp;
		struct pc_hash hash;

		pc_sha256(data, len, &hash);
		CHILD_CHECK(pc_store_open(dir, &store, NULL, 0) == 0);
		tmp = pc_store_tmp_begin(store, &hash, len);
		CHILD_CHECK(tmp != NULL);
		CHILD_CHECK(pc_store_tmp_write(tmp, data, len) == 0);
		CHILD_CHECK(pc_store_tmp_commit(tmp) == 0);
		_exit(0); /* no flush, no close */
	}
	wait_child(pid);
}

/* Puts @len bytes at chunks/ab/<hex of @hash> behind the store's back;
 * returns the path (caller frees). */
static char *plant_chunk_file(const char *dir, const struct pc_hash *hash,
			      const void *data, size_t len)
{
	char *path = store_test_chunk_file(dir, hash);
	char *subdir = strndup(path, strlen(path) - PC_HASH_HEX_LEN - 1);

	assert_non_null(subdir);
	if (mkdir(subdir, 0755) < 0 && errno != EEXIST)
		fail();
	pc_test_write_file(path, data, len);
	free(subdir);
	return path;
}

static void test_store_reconcile_after_crash(void **state)
{
	const char *dir = *state;
	char *tmpdir = pc_test_path(dir, "tmp");
	char *leftover = pc_test_path(dir, "tmp/unfinished.download");
	uint8_t *kept = store_test_bytes(3000, 10);    /* indexed, intact */
	uint8_t *renamed = store_test_bytes(4000, 11); /* file, no entry */
	uint8_t *lost = store_test_bytes(5000, 12);    /* entry, no file */
	uint8_t *corrupt = store_test_bytes(6000, 13); /* wrong content */
	uint8_t *cut = store_test_bytes(7000, 14);     /* truncated file */
	uint8_t *crashed = store_test_bytes(8000, 15); /* daemon died */
	struct pc_hash kept_h, renamed_h, lost_h, corrupt_h, cut_h, crashed_h;
	struct pc_store *store = store_test_open(dir);
	char *renamed_path, *lost_path, *corrupt_path, *cut_path;

	store_test_commit(store, kept, 3000, &kept_h);
	store_test_commit(store, lost, 5000, &lost_h);
	store_test_commit(store, cut, 7000, &cut_h);
	assert_rc(pc_store_flush(store), 0);
	assert_usage(store, 3, 15000);
	pc_store_close(store);

	/* A daemon dies between commit and flush: file without entry. */
	crash_after_commit(dir, crashed, 8000);
	pc_sha256(crashed, 8000, &crashed_h);

	/* The rest of what a crash (or a careless admin) can leave. */
	pc_test_write_file(leftover, "partial", 7);
	pc_sha256(renamed, 4000, &renamed_h);
	renamed_path = plant_chunk_file(dir, &renamed_h, renamed, 4000);
	lost_path = store_test_chunk_file(dir, &lost_h);
	assert_int_equal(unlink(lost_path), 0);
	pc_sha256(corrupt, 6000, &corrupt_h);
	corrupt[0] ^= 1;
	corrupt_path = plant_chunk_file(dir, &corrupt_h, corrupt, 6000);
	cut_path = store_test_chunk_file(dir, &cut_h);
	assert_int_equal(truncate(cut_path, 100), 0);

	store = store_test_open(dir);
	assert_int_equal(store_test_count_files(tmpdir), 0);
	assert_chunk_content(store, &kept_h, kept, 3000);
	assert_chunk_content(store, &renamed_h, renamed, 4000);
	assert_chunk_content(store, &crashed_h, crashed, 8000);
	assert_false(pc_store_chunk_present(store, &lost_h));
	assert_false(file_exists(corrupt_path));
	assert_false(file_exists(cut_path));
	/* Usage counts exactly the surviving chunks, so all three are
	 * indexed and the dropped entries are gone. */
	assert_usage(store, 3, 3000 + 4000 + 8000);
	pc_store_close(store);

	/* A clean reopen changes nothing. */
	store = store_test_open(dir);
	assert_usage(store, 3, 3000 + 4000 + 8000);
	assert_true(file_exists(renamed_path));
	pc_store_close(store);

	free(renamed_path);
	free(lost_path);
	free(corrupt_path);
	free(cut_path);
	free(kept);
	free(renamed);
	free(lost);
	free(corrupt);
	free(cut);
	free(crashed);
	free(leftover);
	free(tmpdir);
}

/*
 * The filter of present chunks (present.c): a chunk never committed is
 * absent without a lookup, a committed one is found, also after a reopen
 * (the filter is built from the index); a file planted behind the store's
 * back is not seen until the chunk is committed again (a duplicate).
 */
static void test_store_present_filter(void **state)
{
	const char *dir = *state;
	uint8_t *a = store_test_bytes(3000, 20),
		*b = store_test_bytes(4000, 21);
	struct pc_hash a_h, b_h;
	struct pc_store *store = store_test_open(dir);
	uint64_t size;
	char *planted;

	pc_sha256(a, 3000, &a_h);
	assert_false(pc_store_chunk_present(store, &a_h));
	assert_rc(pc_store_chunk_open(store, &a_h), -ENOENT);
	assert_rc(pc_store_chunk_read_ahead(store, &a_h), -ENOENT);
	store_test_commit(store, a, 3000, NULL);
	assert_true(pc_store_chunk_present(store, &a_h));
	assert_rc(pc_store_chunk_read_ahead(store, &a_h), 0);
	assert_chunk_content(store, &a_h, a, 3000);

	pc_sha256(b, 4000, &b_h);
	planted = plant_chunk_file(dir, &b_h, b, 4000);
	assert_false(pc_store_chunk_present(store, &b_h));
	assert_rc(pc_store_chunk_size(store, &b_h, &size), -ENOENT);
	assert_rc(pc_store_chunk_read_ahead(store, &b_h), -ENOENT);
	store_test_commit(store, b, 4000, NULL); /* finds the file there */
	assert_true(pc_store_chunk_present(store, &b_h));
	assert_chunk_content(store, &b_h, b, 4000);
	assert_rc(pc_store_flush(store), 0);
	pc_store_close(store);

	store = store_test_open(dir);
	assert_chunk_content(store, &a_h, a, 3000);
	/* A file gone since (by hand): not cached, for the read-ahead too. */
	assert_rc(unlink(planted), 0);
	assert_rc(pc_store_chunk_read_ahead(store, &b_h), -ENOENT);
	assert_rc(pc_store_chunk_read_ahead(store, &a_h), 0);
	pc_store_close(store);
	free(planted);
	free(a);
	free(b);
}

/* pc_store_fd_size gives the length of a regular file only: whatever
 * else stands where a chunk file should (a directory, a FIFO) is no
 * chunk, for the readers and the servers alike. */
static void test_store_fd_size_regular_files_only(void **state)
{
	const char *dir = *state;
	uint8_t *a = store_test_bytes(3000, 30);
	struct pc_store *store = store_test_open(dir);
	char *fifo = pc_test_path(dir, "fifo");
	struct pc_hash a_h;
	int fd;

	pc_sha256(a, 3000, &a_h);
	store_test_commit(store, a, 3000, NULL);
	fd = pc_store_chunk_open(store, &a_h);
	assert_true(fd >= 0);
	assert_int_equal(pc_store_fd_size(fd), 3000);
	pc_store_fd_close(fd);

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pc_store_fd_size(fd), -1);
	pc_store_fd_close(fd);

	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pc_store_fd_size(fd), -1);
	pc_store_fd_close(fd);

	pc_store_close(store);
	free(fifo);
	free(a);
}

static void test_store_counters_persist(void **state)
{
	const char *dir = *state;
	struct pc_store *store = store_test_open(dir);
	const char *name;
	char err[256] = "";

	/* Names are persisted: "ctr.<name>" keys in the index. */
	assert_string_equal(pc_counter_name(PC_CTR_HITS), "hits");
	name = pc_counter_name(PC_CTR_BAD_FROM_MIRROR);
	assert_string_equal(name, "bad_from_mirror");
	pc_store_count(store, PC_CTR_HITS, 5);
	pc_store_count(store, PC_CTR_BYTES_FROM_PEERS, 1000);
	assert_int_equal(pc_store_counter(store, PC_CTR_HITS), 5);
	assert_rc(pc_store_flush(store), 0);
	pc_store_count(store, PC_CTR_HITS, 2);
	assert_int_equal(pc_store_counter(store, PC_CTR_HITS), 7);
	pc_store_close(store); /* flushes the last 2 */

	assert_ok(pc_store_open_readonly(dir, &store, err, sizeof(err)), err);
	assert_int_equal(pc_store_counter(store, PC_CTR_HITS), 7);
	assert_int_equal(pc_store_counter(store, PC_CTR_BYTES_FROM_PEERS),
			 1000);
	assert_int_equal(pc_store_counter(store, PC_CTR_MISSES), 0);
	pc_store_close(store);

	/* A restarted daemon continues from the persisted values. */
	store = store_test_open(dir);
	pc_store_count(store, PC_CTR_HITS, 1);
	assert_int_equal(pc_store_counter(store, PC_CTR_HITS), 8);
	pc_store_close(store);
	store = store_test_open(dir);
	assert_int_equal(pc_store_counter(store, PC_CTR_HITS), 8);
	pc_store_close(store);
}

static const struct store_test_entry view_tree[] = {
	{ 'D', "etc", NULL, 10, 0 },
	{ 'F', "etc/app.conf", "setting=1\n", 20, 0 },
};

/* The tool side of test_store_readonly_view, in its own process. */
static void readonly_child(const char *dir, const struct pc_hash *chunk,
			   int ready_fd, int go_fd)
{
	struct pc_store_version version;
	struct pc_store_usage usage;
	struct pc_store_tmp *tmp;
	struct pc_store *view = NULL;
	struct pc_inode inode;
	struct pc_head head;
	struct pc_manifest *m;
	char byte = 0;
	int fd;

	CHILD_CHECK(pc_store_open_readonly(dir, &view, NULL, 0) == 0);
	CHILD_CHECK(pc_store_current(view, &version) == 0);
	CHILD_CHECK(version.version == 1);
	CHILD_CHECK(pc_store_lookup(view, 0, PC_ROOT_INO, "etc", &inode) == 0);
	CHILD_CHECK(inode.type == PC_ENTRY_DIR);
	pc_inode_release(&inode);
	fd = pc_store_chunk_open(view, chunk);
	CHILD_CHECK(fd >= 0);
	close(fd);
	CHILD_CHECK(pc_store_usage(view, &usage) == 0 && usage.chunks == 1);
	CHILD_CHECK(pc_store_counter(view, PC_CTR_HITS) == 3);

	/* Every write is refused. */
	errno = 0;
	tmp = pc_store_tmp_begin(view, chunk, 10);
	CHILD_CHECK(tmp == NULL && errno == EROFS);
	CHILD_CHECK(pc_store_flush(view) == -EROFS);
	m = pc_manifest_new(0755, 0);
	CHILD_CHECK(m != NULL);
	memset(&head, 0, sizeof(head));
	head.version = 99;
	CHILD_CHECK(pc_store_install(view, &head, m, NULL) == -EROFS);
	pc_manifest_free(m);

	/* The daemon moves on; the open view sees it. */
	CHILD_CHECK(write(ready_fd, "r", 1) == 1);
	CHILD_CHECK(read(go_fd, &byte, 1) == 1);
	CHILD_CHECK(pc_store_current(view, &version) == 0);
	CHILD_CHECK(version.version == 2);
	CHILD_CHECK(pc_store_highest_version(view) == 2);
	CHILD_CHECK(pc_store_counter(view, PC_CTR_HITS) == 4);
	pc_store_close(view);
	_exit(0);
}

static void test_store_readonly_view(void **state)
{
	const char *dir = *state;
	char *empty = pc_test_path(dir, "no-cache-here");
	struct pc_store *store = store_test_open(dir), *none = NULL;
	int ready[2], go[2];
	struct pc_hash chunk;
	char err[256] = "", byte;
	pid_t pid;

	/* No index yet: nothing to view. */
	assert_error(pc_store_open_readonly(empty, &none, err, sizeof(err)),
		     -ENOENT, err, "index");
	store_test_commit(store, "setting=1\n", 10, &chunk);
	pc_store_count(store, PC_CTR_HITS, 3);
	assert_rc(pc_store_flush(store), 0);
	assert_rc(store_test_install(store, view_tree, 2, 1, NULL), 0);

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		readonly_child(dir, &chunk, ready[1], go[0]);
	}
	/* Only the child holds these ends: a failed child means EOF here
	 * rather than a test that hangs. */
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &byte, 1) != 1) {
		wait_child(pid);
		fail();
	}
	assert_rc(store_test_install(store, view_tree, 2, 2, NULL), 0);
	pc_store_count(store, PC_CTR_HITS, 1);
	assert_rc(pc_store_flush(store), 0);
	assert_int_equal(write(go[1], "g", 1), 1);
	wait_child(pid);

	close(ready[0]);
	close(go[1]);
	pc_store_close(store);
	free(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(
			test_store_chunk_commit_verifies_hash_and_length),
		store_unit_test(test_store_second_open_is_refused),
		store_unit_test(test_store_reconcile_after_crash),
		store_unit_test(test_store_present_filter),
		store_unit_test(test_store_fd_size_regular_files_only),
		store_unit_test(test_store_counters_persist),
		store_unit_test(test_store_readonly_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
