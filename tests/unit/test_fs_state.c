/*
 * test_fs_state.c - the mount's state a restart or a crash resume hands to
 * the next process (fs/state.c), and what the new process reads from it:
 *  - the INIT exchange is checked whole before libfuse reads it: a request
 *    shorter than its flags say, a header whose length is not the
 *    buffer's, another opcode, a reply to another request or a short one
 *    are refused (a damaged state made libfuse read past the buffer);
 *  - FUSE_NOTIFY_RESEND support is FUSE_HAS_RESEND in the request's
 *    flags2, not a minor version;
 *  - the OFFER says how long the old process may take to send GO, and the
 *    new one waits that long (it waited a fixed 120 s).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/fuse.h>

#include "devio.h"
#include "handover.h"
#include "helpers.h"
#include "takeover.h"

#define HAS_RESEND_FLAGS2 (1u << 7) /* FUSE_HAS_RESEND >> 32 */

struct exchange {
	char req[sizeof(struct fuse_in_header) + 64];
	char reply[sizeof(struct fuse_out_header) + 64];
	size_t req_len, reply_len;
};

/* A kernel's INIT (7.@minor, extended, @flags2) and libfuse's reply. */
static void make_exchange(struct exchange *x, uint32_t minor, uint32_t flags2)
{
	struct fuse_in_header in = { .len = sizeof(x->req),
				     .opcode = FUSE_INIT,
				     .unique = 2 };
	struct fuse_init_in arg = { .major = 7,
				    .minor = minor,
				    .flags = FUSE_INIT_EXT,
				    .flags2 = flags2 };
	struct fuse_out_header out = { .len = sizeof(x->reply), .unique = 2 };
	struct fuse_init_out reply = { .major = 7, .minor = 38 };

	memcpy(x->req, &in, sizeof(in));
	memcpy(x->req + sizeof(in), &arg, sizeof(arg));
	memcpy(x->reply, &out, sizeof(out));
	memcpy(x->reply + sizeof(out), &reply, sizeof(reply));
	x->req_len = sizeof(x->req);
	x->reply_len = sizeof(x->reply);
}

/* Encodes a state with @x and decodes it: the decoder's verdict. */
static int round_trip(const struct exchange *x, uint32_t go_within_s,
		      struct pc_fs_state *out, char *err, size_t errlen)
{
	struct pc_fs_state st = { .generation = 7,
				  .go_within_s = go_within_s,
				  .dev_major = 0,
				  .dev_minor = 99,
				  .mountpoint = (char *)"/srv/a b",
				  .init_req = (void *)x->req,
				  .init_reply = (void *)x->reply,
				  .init_req_len = x->req_len,
				  .init_reply_len = x->reply_len };
	void *bytes, *exact;
	size_t len;
	int rc;

	assert_ok(pc_fs_state_encode(&st, &bytes, &len), NULL);
	exact = pc_test_exact_copy(bytes, len);
	free(bytes);
	rc = pc_fs_state_decode(exact, len, out, err, errlen);
	free(exact);
	return rc;
}

static void test_fs_state_round_trip(void **unused)
{
	struct pc_fs_state st;
	struct exchange x;
	char err[256] = "";

	(void)unused;
	make_exchange(&x, 38, 0);
	assert_ok(round_trip(&x, 300, &st, err, sizeof(err)), err);
	assert_int_equal(st.generation, 7);
	assert_int_equal(st.go_within_s, 300);
	assert_int_equal(st.dev_minor, 99);
	assert_string_equal(st.mountpoint, "/srv/a b");
	assert_int_equal(st.init_req_len, x.req_len);
	assert_memory_equal(st.init_reply, x.reply, x.reply_len);
	pc_fs_state_free(&st);
}

/* Each damage, one at a time, is refused before anything reads it. */
static void test_fs_state_refuses_damaged_init(void **unused)
{
	struct pc_fs_state st;
	struct exchange x;
	char err[256];
	uint64_t other = 3;

	(void)unused;
	for (int damage = 0; damage < 6; damage++) {
		make_exchange(&x, 38, 0);
		if (damage == 0) /* extended, but cut to the old size */
			x.req_len = sizeof(struct fuse_in_header) + 16;
		if (damage == 1) /* the header says more than there is */
			memcpy(x.req, &(uint32_t){ 4096 }, 4);
		if (damage == 2) /* another request */
			memcpy(x.req + 4, &(uint32_t){ FUSE_LOOKUP }, 4);
		if (damage == 3) /* a reply to another request */
			memcpy(x.reply + 8, &other, sizeof(other));
		if (damage == 4) /* a reply shorter than libfuse's */
			x.reply_len = sizeof(struct fuse_out_header) + 8;
		if (damage == 5) /* no INIT arguments at all */
			x.req_len = sizeof(struct fuse_in_header);
		if (damage == 0 || damage == 5)
			memcpy(x.req, &(uint32_t){ (uint32_t)x.req_len }, 4);
		if (damage == 4)
			memcpy(x.reply, &(uint32_t){ (uint32_t)x.reply_len },
			       4);
		err[0] = '\0';
		assert_error(round_trip(&x, 0, &st, err, sizeof(err)), -EPROTO,
			     err, "damaged");
	}
}

static void test_fs_state_resend_is_a_flag(void **unused)
{
	struct exchange x;

	(void)unused;
	make_exchange(&x, 40, HAS_RESEND_FLAGS2);
	assert_true(fs_init_resends(x.req, x.req_len));
	make_exchange(&x, 40, 0); /* 7.40 and yet no RESEND */
	assert_false(fs_init_resends(x.req, x.req_len));
	make_exchange(&x, 41, HAS_RESEND_FLAGS2);
	assert_true(fs_init_resends(x.req, x.req_len));
	assert_false(fs_init_resends(x.req, sizeof(struct fuse_in_header)));
}

static void test_fs_state_go_timeout_from_offer(void **unused)
{
	struct pc_fs_state st = { .go_within_s = 0 };

	(void)unused;
	assert_int_equal(fs_go_timeout_ms(&st), 120000);
	st.go_within_s = 366; /* fetch_timeout 300 s on an old kernel */
	assert_true(fs_go_timeout_ms(&st) >= 366000);
	st.go_within_s = UINT32_MAX;
	assert_true(fs_go_timeout_ms(&st) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_state_round_trip),
		cmocka_unit_test(test_fs_state_refuses_damaged_init),
		cmocka_unit_test(test_fs_state_resend_is_a_flag),
		cmocka_unit_test(test_fs_state_go_timeout_from_offer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
