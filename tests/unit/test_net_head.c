/*
 * test_net_head.c - the head poller against a real mirror: a valid head is
 * installed; heads that are foreign, tampered, truncated, oversized, for
 * another repository, expired or older are each refused with their own
 * reason while the node keeps its version; an expired current head makes
 * the node stale.  Heads that make no sense (created far in the future,
 * expiring before they were created) are refused, and a second, different
 * signed head of the version accepted is refused as an equivocation, also
 * after a restart (its digest is kept with the version).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

#define REFRESH_MS 10000

static uint64_t current_version(struct net_fixture *fx)
{
	struct pc_store_version v;

	if (pc_store_current(fx->store, &v) < 0)
		return 0;
	return v.version;
}

/* Polls; the head must be refused with @want_rc and @want_text, the state
 * must be failing and the version still @version.  Returns last_error. */
static char *expect_refusal(struct net_fixture *fx, int want_rc,
			    const char *want_text, uint64_t version)
{
	struct pc_net_status st;
	int rc = pc_net_refresh(fx->net, true, REFRESH_MS);

	pc_net_status(fx->net, &st);
	assert_error(rc, want_rc, st.last_error, want_text);
	assert_int_equal(st.state, PC_STATE_FAILING);
	assert_int_equal(current_version(fx), version);
	return strdup(st.last_error);
}

static void expect_up_to_date(struct net_fixture *fx, uint64_t version)
{
	struct pc_net_status st;
	int rc = pc_net_refresh(fx->net, true, REFRESH_MS);

	pc_net_status(fx->net, &st);
	assert_ok(rc, st.last_error);
	assert_int_equal(st.state, PC_STATE_UP_TO_DATE);
	assert_string_equal(st.last_error, "");
	assert_string_equal(st.source, fx->repo_url);
	assert_int_equal(current_version(fx), version);
}

static char *read_head(struct net_fixture *fx, const char *repo, size_t *len)
{
	char *path = pc_test_path(repo, "head");
	char *head = fx_read_file(path, len);

	(void)fx;
	free(path);
	return head;
}

static void serve_head(struct net_fixture *fx, const void *data, size_t len)
{
	char *path = pc_test_path(fx->repo, "head");

	fx_replace_file(path, data, len);
	free(path);
}

/* Publishes @name with @key into www/@dir and returns that head. */
static char *head_from(struct net_fixture *fx, const char *key,
		       const char *name, const char *dir, size_t *len)
{
	char *repo = pc_test_path(fx->www, dir);
	char *head;

	fx_publish(fx, key, name, NULL, repo);
	head = read_head(fx, repo, len);
	free(repo);
	return head;
}

static void test_net_head_accept_and_refusals(void **state)
{
	struct net_fixture *fx = *state;
	char *v1, *v3, *other, *errors[8], *key2, *big, *p;
	struct pc_head parsed;
	size_t v1_len, v3_len, len, n = 0;
	char why[256];
	double deadline;

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	expect_up_to_date(fx, 1);
	assert_int_equal(
		__atomic_load_n(&fx->versions_switched, __ATOMIC_SEQ_CST), 1);
	v1 = read_head(fx, fx->repo, &v1_len);

	/* Signed by a key the node does not trust. */
	key2 = pc_test_path(fx->dir, "key2");
	fx_keygen(key2);
	other = head_from(fx, key2, FX_REPO_NAME, "foreign", &len);
	serve_head(fx, other, len);
	free(other);
	errors[n++] = expect_refusal(fx, -ENOKEY, "untrusted key", 1);

	/* A signed field changed after signing. */
	other = malloc(v1_len);
	assert_non_null(other);
	memcpy(other, v1, v1_len);
	p = strstr(other, "version 1\n");
	assert_non_null(p);
	p[8] = '7';
	serve_head(fx, other, v1_len);
	free(other);
	errors[n++] = expect_refusal(fx, -EKEYREJECTED,
				     "signature does not verify", 1);

	/* Cut short, as by an interrupted upload. */
	serve_head(fx, v1, v1_len / 2);
	errors[n++] = expect_refusal(fx, -EBADMSG, "truncated", 1);

	/* Larger than any head may be: not even read to the end. */
	big = malloc(3 * PC_HEAD_MAX);
	assert_non_null(big);
	memset(big, 'x', 3 * PC_HEAD_MAX);
	serve_head(fx, big, 3 * PC_HEAD_MAX);
	free(big);
	errors[n++] = expect_refusal(fx, -EFBIG, "head too large", 1);

	/* Trusted, valid, but another repository. */
	other = head_from(fx, fx->key, "otherrepo", "other", &len);
	serve_head(fx, other, len);
	free(other);
	errors[n++] = expect_refusal(fx, -EPERM, "is for repository", 1);

	/* Version 2, expired by the time the node sees it. */
	serve_head(fx, v1, v1_len);
	fx_publish(fx, fx->key, FX_REPO_NAME, "1s", fx->repo);
	other = read_head(fx, fx->repo, &len);
	assert_ok(
		pc_head_parse(other, len, fx->ring, &parsed, why, sizeof(why)),
		why);
	free(other);
	assert_int_equal(parsed.version, 2);
	deadline = fx_now() + 5;
	while (time(NULL) < parsed.expires && fx_now() < deadline)
		usleep(50 * 1000);
	errors[n++] = expect_refusal(fx, -EKEYEXPIRED, "expired at", 1);

	/* Version 3, valid: accepted, and the fs hook hears of it. */
	fx_publish(fx, fx->key, FX_REPO_NAME, NULL, fx->repo);
	v3 = read_head(fx, fx->repo, &v3_len);
	expect_up_to_date(fx, 3);
	assert_int_equal(__atomic_load_n(&fx->last_switched, __ATOMIC_SEQ_CST),
			 3);
	assert_int_equal(
		__atomic_load_n(&fx->versions_switched, __ATOMIC_SEQ_CST), 2);

	/* Back to version 1: a rollback. */
	serve_head(fx, v1, v1_len);
	errors[n++] = expect_refusal(fx, -ESTALE,
				     "rollback: head version 1 is lower than "
				     "the highest accepted 3",
				     3);

	/* The current head again: up to date, the failure forgotten. */
	serve_head(fx, v3, v3_len);
	expect_up_to_date(fx, 3);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(errors[i], errors[j]);
		free(errors[i]);
	}
	free(v1);
	free(v3);
	free(key2);
}

static void test_net_head_expired_current_is_stale(void **state)
{
	struct net_fixture *fx = *state;
	struct pc_net_status st;
	struct pc_store_version v;
	double deadline;

	fx_publish(fx, fx->key, FX_REPO_NAME, "4s", fx->repo);
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	expect_up_to_date(fx, 2);
	assert_int_equal(pc_store_current(fx->store, &v), 0);

	deadline = fx_now() + 8;
	while (time(NULL) < v.expires && fx_now() < deadline)
		usleep(50 * 1000);
	pc_net_status(fx->net, &st);
	assert_int_equal(st.state, PC_STATE_STALE);
	/* The mirror still serves that head: nothing newer, still stale,
	 * and the node keeps its version. */
	assert_int_equal(pc_net_refresh(fx->net, true, REFRESH_MS), 0);
	pc_net_status(fx->net, &st);
	assert_int_equal(st.state, PC_STATE_STALE);
	assert_string_equal(pc_net_state_name(st.state), "stale");
	assert_int_equal(current_version(fx), 2);
}

/* @head signed with the fixture's key, served as the mirror's head. */
static void serve_signed(struct net_fixture *fx, const struct pc_head *head)
{
	char why[256];
	struct pc_key *key = pc_key_load(fx->key, why, sizeof(why));
	size_t len;
	char *buf;

	assert_non_null(key);
	assert_int_equal(pc_head_sign(head, key, &buf, &len), 0);
	serve_head(fx, buf, len);
	free(buf);
	pc_key_free(key);
}

static void test_net_head_times_and_equivocation(void **state)
{
	struct net_fixture *fx = *state;
	struct pc_head v1, other;
	size_t v1_len;
	char *v1_text, *error, why[256];

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	expect_up_to_date(fx, 1);
	v1_text = read_head(fx, fx->repo, &v1_len);
	assert_ok(
		pc_head_parse(v1_text, v1_len, fx->ring, &v1, why, sizeof(why)),
		why);

	/* Version 2, created an hour ahead of this node's clock. */
	other = v1;
	other.version = 2;
	other.created = time(NULL) + 3600;
	other.expires = other.created + 3600;
	serve_signed(fx, &other);
	free(expect_refusal(fx, -EBADMSG, "ahead of this node's clock", 1));

	/* Within the documented skew it is accepted as usual: see below. */

	/* Version 1 again, but another head: the same version with another
	 * creation time is an equivocation, refused; the first head stays. */
	other = v1;
	other.created = v1.created + 1;
	serve_signed(fx, &other);
	error = expect_refusal(fx, -EEXIST, "equivocation", 1);
	assert_non_null(strstr(error, "version 1"));
	free(error);
	serve_head(fx, v1_text, v1_len);
	expect_up_to_date(fx, 1);

	/* After a restart the node still knows which head it accepted. */
	fx_stop_net(fx);
	serve_signed(fx, &other);
	fx_start_net(fx);
	free(expect_refusal(fx, -EEXIST, "equivocation", 1));

	/* A head a little ahead of the clock (within the skew) is fine. */
	other = v1;
	other.version = 2;
	other.created = time(NULL) + PC_HEAD_CLOCK_SKEW / 2;
	other.expires = other.created + 3600;
	serve_signed(fx, &other);
	expect_up_to_date(fx, 2);
	free(v1_text);
}

static void test_net_head_no_mirror_answers(void **state)
{
	struct net_fixture *fx = *state;
	struct pc_net_status st;
	char url[128];
	int rc;

	snprintf(url, sizeof(url), "%s/nothing-here", fx->base_url);
	fx_set(fx, "mirror", url);
	fx_set(fx, "mirror", "http://127.0.0.1:1");
	fx_start_net(fx);
	rc = pc_net_refresh(fx->net, true, REFRESH_MS);
	pc_net_status(fx->net, &st);
	assert_error(rc, -EHOSTUNREACH, st.last_error, "HTTP status 404");
	assert_int_equal(st.state, PC_STATE_FAILING);
	assert_true(st.last_poll > 0);
	assert_int_equal(st.last_poll_ok, 0);
	assert_int_equal(current_version(fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_net_head_accept_and_refusals, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_head_expired_current_is_stale, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_head_times_and_equivocation, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_head_no_mirror_answers,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
