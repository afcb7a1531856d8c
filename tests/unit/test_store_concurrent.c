/*
 * test_store_concurrent.c - the threading contract of pc_store.h: FUSE
 * workers read (chunk_open, lookup, getattr, counters) while the loop
 * thread commits downloads, flushes and switches versions.  Meant to run
 * under ThreadSanitizer as well; the readers check every answer they get,
 * so a torn or half-visible state fails the test even without TSan.
 *
 * cmocka's assertions are not thread-safe, so the threads record the first
 * failure and the main thread reports it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_store_util.h"

#define READERS 4
#define CHUNKS 48
#define CHUNK_LEN 8192
#define FLUSH_EVERY 8

static const struct store_test_entry tree_v1[] = {
	{ 'D', "bin", NULL, 1, 0 },
	{ 'F', "bin/tool", "tool v1", 1, 0755 },
	{ 'F', "defs.dat", "definitions v1", 1, 0 },
	{ 'F', "readme", "stays the same", 1, 0 },
};

static const struct store_test_entry tree_v2[] = {
	{ 'D', "bin", NULL, 2, 0 },
	{ 'F', "bin/tool", "tool v2", 2, 0755 },
	{ 'F', "defs.dat", "definitions v2", 2, 0 },
	{ 'F', "readme", "stays the same", 1, 0 },
};

struct shared {
	struct pc_store *store;
	struct pc_manifest *v2; /* built before the threads start */
	struct pc_head v2_head;
	uint8_t *data[CHUNKS];
	struct pc_hash hash[CHUNKS];
	atomic_bool stop;
	atomic_int failures;
	atomic_ullong hits_counted;
	pthread_mutex_t lock;
	char first_failure[256]; /* guarded by lock */
};

static void report(struct shared *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(struct shared *s, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&s->failures, 1) == 0) {
		pthread_mutex_lock(&s->lock);
		va_start(ap, fmt);
		vsnprintf(s->first_failure, sizeof(s->first_failure), fmt, ap);
		va_end(ap);
		pthread_mutex_unlock(&s->lock);
	}
}

/* A chunk is either absent or complete and correct, never in between. */
static void read_chunk(struct shared *s, size_t i, uint8_t *buf)
{
	int fd = pc_store_chunk_open(s->store, &s->hash[i]);
	ssize_t n;

	if (fd == -ENOENT)
		return;
	if (fd < 0) {
		report(s, "chunk_open %zu: %s", i, strerror(-fd));
		return;
	}
	n = pread(fd, buf, CHUNK_LEN + 1, 0);
	close(fd);
	if (n != CHUNK_LEN || memcmp(buf, s->data[i], CHUNK_LEN) != 0)
		report(s, "chunk %zu: read %zd bytes, or wrong bytes", i, n);
	pc_store_count(s->store, PC_CTR_HITS, 1);
	atomic_fetch_add(&s->hits_counted, 1);
}

/* Every name exists in both versions, so every lookup must succeed. */
static void read_tree(struct shared *s)
{
	struct pc_inode inode, by_number;
	int64_t ino;
	int rc;

	ino = store_test_resolve(s->store, 0, "bin/tool");
	if (ino < 0) {
		report(s, "lookup bin/tool: %s", strerror((int)-ino));
		return;
	}
	/* Its number may already be of the previous version: still
	 * readable, because two versions are retained. */
	rc = pc_store_inode(s->store, (uint64_t)ino, &by_number);
	if (rc < 0)
		report(s, "inode %lld: %s", (long long)ino, strerror(-rc));
	if (rc == 0 && (by_number.size != 7 || by_number.nchunks != 1))
		report(s, "inode %lld: size %llu", (long long)ino,
		       (unsigned long long)by_number.size);
	pc_inode_release(&by_number);
	rc = pc_store_lookup(s->store, 0, PC_ROOT_INO, "readme", &inode);
	if (rc < 0)
		report(s, "lookup readme: %s", strerror(-rc));
	pc_inode_release(&inode);
	(void)pc_store_counter(s->store, PC_CTR_HITS);
}

static void *reader(void *arg)
{
	struct shared *s = arg;
	uint8_t *buf = malloc(CHUNK_LEN + 1);
	size_t i = 0;

	if (!buf) {
		report(s, "out of memory");
		return NULL;
	}
	while (!atomic_load(&s->stop)) {
		read_chunk(s, i++ % CHUNKS, buf);
		read_tree(s);
	}
	free(buf);
	return NULL;
}

/* The loop thread's part: downloads, flushes and one version switch. */
static void *writer(void *arg)
{
	struct shared *s = arg;
	struct pc_store_changes changes;
	int rc;

	for (size_t i = 0; i < CHUNKS; i++) {
		struct pc_store_tmp *tmp =
			pc_store_tmp_begin(s->store, &s->hash[i], CHUNK_LEN);

		if (!tmp || pc_store_tmp_write(tmp, s->data[i], CHUNK_LEN) ||
		    pc_store_tmp_commit(tmp))
			report(s, "commit of chunk %zu failed", i);
		if (i % FLUSH_EVERY == FLUSH_EVERY - 1 &&
		    (rc = pc_store_flush(s->store)) < 0)
			report(s, "flush: %s", strerror(-rc));
		if (i == CHUNKS / 2) {
			rc = pc_store_install(s->store, &s->v2_head, s->v2,
					      &changes);
			if (rc < 0)
				report(s, "install: %s", strerror(-rc));
			pc_store_changes_free(&changes);
		}
	}
	rc = pc_store_flush(s->store);
	if (rc < 0)
		report(s, "flush: %s", strerror(-rc));
	usleep(20000); /* let the readers see the final state too */
	atomic_store(&s->stop, true);
	return NULL;
}

static void test_store_concurrent_readers_and_writer(void **state)
{
	const char *dir = *state;
	struct shared s = { .store = store_test_open(dir) };
	pthread_t readers[READERS], writer_thread;
	struct pc_store_usage usage;

	pthread_mutex_init(&s.lock, NULL);
	for (size_t i = 0; i < CHUNKS; i++) {
		s.data[i] = store_test_bytes(CHUNK_LEN, 100 + i);
		pc_sha256(s.data[i], CHUNK_LEN, &s.hash[i]);
	}
	assert_rc(store_test_install(s.store, tree_v1, 4, 1, NULL), 0);
	s.v2 = store_test_manifest(tree_v2, 4, 1000, 2, &s.v2_head);

	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&readers[i], NULL, reader, &s),
				 0);
	assert_int_equal(pthread_create(&writer_thread, NULL, writer, &s), 0);
	assert_int_equal(pthread_join(writer_thread, NULL), 0);
	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_join(readers[i], NULL), 0);

	if (atomic_load(&s.failures)) {
		print_error("%d failures in threads; first: %s\n",
			    atomic_load(&s.failures), s.first_failure);
		fail();
	}
	/* Every chunk indexed once, every count kept. */
	assert_rc(pc_store_usage(s.store, &usage), 0);
	assert_int_equal(usage.chunks, CHUNKS);
	assert_int_equal(usage.bytes, (uint64_t)CHUNKS * CHUNK_LEN);
	assert_int_equal(pc_store_counter(s.store, PC_CTR_HITS),
			 atomic_load(&s.hits_counted));
	assert_true(atomic_load(&s.hits_counted) > 0);
	pc_store_close(s.store);

	/* And what was counted was persisted. */
	s.store = store_test_open(dir);
	assert_int_equal(pc_store_counter(s.store, PC_CTR_HITS),
			 atomic_load(&s.hits_counted));
	pc_store_close(s.store);
	for (size_t i = 0; i < CHUNKS; i++)
		free(s.data[i]);
	pc_manifest_free(s.v2);
	pthread_mutex_destroy(&s.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(test_store_concurrent_readers_and_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
