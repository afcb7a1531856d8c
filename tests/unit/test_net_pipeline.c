/*
 * test_net_pipeline.c - what readers get from a fetch (pc_net_fetch_data):
 * the verified bytes in memory, or the chunk file when it was cached, and
 * they keep them whatever the store does afterwards (a purge, a store that
 * could not keep the chunk at all).  Real nginx, real store, as in
 * test_net_fetch.c.
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
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

#define WAIT_S 20.0

/* One reader's callback: what it was given. */
struct reader {
	struct fx_call call;
	struct pc_chunk_buf *buf; /* a reference, or NULL */
	int fd;
};

static void reader_done(void *arg, int status, struct pc_chunk_buf *buf, int fd)
{
	struct reader *r = arg;

	r->buf = buf ? pc_chunk_buf_ref(buf) : NULL;
	r->fd = fd;
	fx_fetch_done(&r->call, status);
}

/* pc_net_fetch_data of @ref; waits for the callback; returns its status. */
static int read_chunk(struct net_fixture *fx, const struct pc_chunk_ref *ref,
		      struct reader *r)
{
	struct fx_calls calls;

	fx_calls_init(&calls);
	*r = (struct reader){ .call = { .calls = &calls }, .fd = -2 };
	assert_int_equal(pc_net_fetch_data(fx->net, ref, reader_done, r), 0);
	if (!fx_calls_wait(&calls, 1, WAIT_S))
		fail_msg("no callback within %.0f s", WAIT_S);
	assert_int_equal(r->call.count, 1);
	fx_calls_destroy(&calls);
	return r->call.status;
}

static void assert_buf_is(struct pc_chunk_buf *buf, const uint8_t *want,
			  size_t len)
{
	assert_non_null(buf);
	assert_int_equal(pc_chunk_buf_len(buf), len);
	assert_memory_equal(pc_chunk_buf_data(buf), want, len);
}

static void test_net_reader_gets_verified_bytes_and_keeps_them(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	const struct pc_chunk_ref *ref = &e->chunks[1];
	const uint8_t *want = fx->big + fx_chunk_offset(e, 1);
	struct reader first, second;
	double deadline;
	uint8_t *back;

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	/* Not cached: the bytes in memory, no file. */
	assert_int_equal(read_chunk(fx, ref, &first), 0);
	assert_int_equal(first.fd, -1);
	assert_buf_is(first.buf, want, ref->len);
	/* The reader had them before the store renamed them in: until it
	 * has, another reader gets them from memory too; once it has, the
	 * file, open, and nothing in memory. */
	deadline = fx_now() + WAIT_S;
	do {
		assert_int_equal(read_chunk(fx, ref, &second), 0);
		if (second.buf) {
			assert_buf_is(second.buf, want, ref->len);
			pc_chunk_buf_put(second.buf);
			usleep(1000);
		}
	} while (second.fd < 0 && fx_now() < deadline);
	assert_true(second.fd >= 0);
	assert_true(fx_store_has(fx, ref, want));
	/* A purge takes the chunk out of the cache: neither the buffer nor
	 * the open file loses a byte. */
	assert_int_equal(pc_store_purge(fx->store, 0, NULL), 0);
	assert_false(pc_store_chunk_present(fx->store, &ref->hash));
	assert_buf_is(first.buf, want, ref->len);
	back = malloc(ref->len);
	assert_non_null(back);
	assert_int_equal(pread(second.fd, back, ref->len, 0), ref->len);
	assert_memory_equal(back, want, ref->len);
	free(back);
	close(second.fd);
	pc_chunk_buf_put(first.buf);
}

/* A store that cannot keep chunks (its tmp/ is gone): readers still get
 * the verified bytes; a waiter that needs the chunk in the store is told
 * it is not there. */
static void test_net_reader_gets_bytes_the_store_cannot_keep(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char *tmpdir = pc_test_path(fx->cache, "tmp");
	struct fx_calls calls;
	struct fx_call plain = { .calls = &calls };
	struct reader r;

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	assert_int_equal(rmdir(tmpdir), 0);
	assert_int_equal(read_chunk(fx, &e->chunks[0], &r), 0);
	assert_buf_is(r.buf, fx->big, e->chunks[0].len);
	assert_false(pc_store_chunk_present(fx->store, &e->chunks[0].hash));
	pc_chunk_buf_put(r.buf);

	fx_calls_init(&calls);
	assert_int_equal(
		pc_net_fetch(fx->net, &e->chunks[2], fx_fetch_done, &plain), 0);
	assert_true(fx_calls_wait(&calls, 1, WAIT_S));
	assert_int_equal(plain.status, -EIO);
	fx_calls_destroy(&calls);
	free(tmpdir);
}

/* Wrong bytes from the first mirror never reach a reader: the second
 * mirror's do; one reader and one other waiter share the one fetch. */
static void test_net_reader_never_sees_wrong_bytes(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char *bad = fx_copy_repo(fx, "bad"), url[128], rel[128], *path, *buf;
	const struct pc_chunk_ref *ref = &e->chunks[2];
	struct fx_calls calls;
	struct fx_call plain = { .calls = &calls };
	struct reader r = { .call = { .calls = &calls }, .fd = -2 };
	size_t len;

	fx_chunk_path(&ref->hash, rel, sizeof(rel));
	path = pc_test_path(bad, rel);
	buf = fx_read_file(path, &len);
	buf[len - 1] ^= 0x80; /* the last segment's last byte */
	fx_replace_file(path, buf, len);
	snprintf(url, sizeof(url), "%s/bad", fx->base_url);
	fx_set(fx, "mirror", url);
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	fx_calls_init(&calls);
	assert_int_equal(pc_net_fetch_data(fx->net, ref, reader_done, &r), 0);
	assert_int_equal(pc_net_fetch(fx->net, ref, fx_fetch_done, &plain), 0);
	assert_true(fx_calls_wait(&calls, 2, WAIT_S));
	assert_int_equal(r.call.status, 0);
	assert_int_equal(plain.status, 0);
	assert_buf_is(r.buf, fx->big + fx_chunk_offset(e, 2), ref->len);
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR),
			 1);
	pc_chunk_buf_put(r.buf);
	fx_calls_destroy(&calls);
	free(buf);
	free(path);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_net_reader_gets_verified_bytes_and_keeps_them,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_reader_gets_bytes_the_store_cannot_keep,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_reader_never_sees_wrong_bytes, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
