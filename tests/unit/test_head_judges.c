/*
 * test_head_judges.c - the daemon and `peercachectl check` judge a head
 * alike (issue 12: one copy of head acceptance).  Each head is served by
 * the mirror and judged twice, first by peercachectl check (the real
 * binary, reading the node's cache as it does beside a running daemon),
 * then by the daemon's head poll (check finds the cache by the
 * configuration's cache_dir): a good new version, the version held,
 * another repository with `repository` set and with it empty, an expired
 * head, one created too far ahead, an older version, a bad signature and
 * an untrusted key.  Both must accept or refuse, and for the same reason.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

#define REFRESH_MS 10000
#define CHECK_NO_VALID_HEAD 6 /* docs/peercachectl.md */

/* A configuration file for peercachectl -c with the fixture's mirror, key
 * and cache (where check reads what the node holds), and @repository
 * unless it is NULL.  Caller frees the path. */
static char *ctl_config(struct net_fixture *fx, const char *repository)
{
	char *path = pc_test_path(fx->dir, "ctl.conf");
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f,
		"[peercache]\nmirror = %s\ntrusted_key = %s.pub\n"
		"cache_dir = %s\n",
		fx->repo_url, fx->key, fx->cache);
	if (repository)
		fprintf(f, "repository = %s\n", repository);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* peercachectl check --json: its exit status, its output into @out. */
static int run_check(struct net_fixture *fx, const char *conf, char *out,
		     size_t len)
{
	char cmd[2048];
	size_t n;
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd),
		 "%s -c %s --socket %s/absent.sock --json check 2>&1",
		 PC_CTL_BIN, conf, fx->dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	status = pclose(p);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * The head the mirror serves now, judged by both.  @want_rc: the
 * daemon's verdict (0 accepted, else the refusal's error); @want_text:
 * in both reasons.  A refusal's whole reason, as the daemon words it,
 * must be check's head step too.
 */
static void both_judge(struct net_fixture *fx, const char *conf, int want_rc,
		       const char *want_text)
{
	struct pc_net_status st;
	char out[16384], why[512], *from;
	int ctl_rc, rc;

	ctl_rc = run_check(fx, conf, out, sizeof(out));
	rc = pc_net_refresh(fx->net, true, REFRESH_MS);
	pc_net_status(fx->net, &st);
	if (want_rc == 0) {
		assert_ok(rc, st.last_error);
		if (ctl_rc != 0)
			fail_msg("check refused what the daemon accepts:\n%s",
				 out);
		assert_non_null(strstr(out, "\"step\":\"head\",\"state\":"
					    "\"ok\""));
		if (want_text)
			assert_non_null(strstr(out, want_text));
		return;
	}
	assert_error(rc, want_rc, st.last_error, want_text);
	if (ctl_rc != CHECK_NO_VALID_HEAD)
		fail_msg("check (exit %d) accepted what the daemon refuses "
			 "(%s):\n%s",
			 ctl_rc, st.last_error, out);
	snprintf(why, sizeof(why), "%s", st.last_error);
	from = strstr(why, " (from ");
	if (from)
		*from = '\0';
	if (!strstr(out, why))
		fail_msg("check gives another reason than the daemon's "
			 "'%s':\n%s",
			 why, out);
}

static char *read_head(struct net_fixture *fx, size_t *len)
{
	char *path = pc_test_path(fx->repo, "head");
	char *head = fx_read_file(path, len);

	free(path);
	return head;
}

static void serve_head(struct net_fixture *fx, const void *data, size_t len)
{
	char *path = pc_test_path(fx->repo, "head");

	fx_replace_file(path, data, len);
	free(path);
}

/* @head signed with @key_path's key, served as the mirror's head. */
static void serve_signed(struct net_fixture *fx, const char *key_path,
			 const struct pc_head *head)
{
	char why[256];
	struct pc_key *key = pc_key_load(key_path, why, sizeof(why));
	size_t len;
	char *buf;

	assert_non_null(key);
	assert_int_equal(pc_head_sign(head, key, &buf, &len), 0);
	serve_head(fx, buf, len);
	free(buf);
	pc_key_free(key);
}

static void parse(struct net_fixture *fx, const char *text, size_t len,
		  struct pc_head *out)
{
	char why[256];

	assert_ok(pc_head_parse(text, len, fx->ring, out, why, sizeof(why)),
		  why);
}

/* With `repository` empty: the node's own repository is the one. */
static void test_head_judges_agree(void **state)
{
	struct net_fixture *fx = *state;
	char *conf = ctl_config(fx, NULL), *v1, *v2, *key2;
	struct pc_head h1, h;
	size_t v1_len, v2_len;

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	assert_int_equal(pc_net_refresh(fx->net, true, REFRESH_MS), 0);
	v1 = read_head(fx, &v1_len);
	parse(fx, v1, v1_len, &h1);

	/* Good: a new version. */
	fx_publish(fx, fx->key, FX_REPO_NAME, NULL, fx->repo);
	v2 = read_head(fx, &v2_len);
	both_judge(fx, conf, 0, "version 2 of '" FX_REPO_NAME "'");
	/* The version held, again. */
	both_judge(fx, conf, 0, "the version this node holds");

	/* Another repository, with `repository` empty. */
	h = h1;
	snprintf(h.name, sizeof(h.name), "otherrepo");
	h.version = 3;
	serve_signed(fx, fx->key, &h);
	both_judge(fx, conf, -EPERM, "is for repository 'otherrepo'");

	/* Expired. */
	h = h1;
	h.version = 3;
	h.created = time(NULL) - 7200;
	h.expires = time(NULL) - 3600;
	serve_signed(fx, fx->key, &h);
	both_judge(fx, conf, -EKEYEXPIRED, "expired at");

	/* Created too far ahead of the clock. */
	h.created = time(NULL) + 3600;
	h.expires = h.created + 3600;
	serve_signed(fx, fx->key, &h);
	both_judge(fx, conf, -EBADMSG, "ahead of this node's clock");

	/* An older version than the highest accepted (2). */
	serve_head(fx, v1, v1_len);
	both_judge(fx, conf, -ESTALE, "rollback");

	/* A bad signature: a signed field changed after signing. */
	v2[strstr(v2, "version 2\n") - v2 + 8] = '7';
	serve_head(fx, v2, v2_len);
	both_judge(fx, conf, -EKEYREJECTED, "signature does not verify");

	/* A key the node does not trust. */
	key2 = pc_test_path(fx->dir, "key2");
	fx_keygen(key2);
	h = h1;
	h.version = 3;
	serve_signed(fx, key2, &h);
	both_judge(fx, conf, -ENOKEY, "untrusted key");

	free(key2);
	free(v1);
	free(v2);
	free(conf);
}

/* With `repository` set: only that one. */
static void test_head_judges_agree_on_repository(void **state)
{
	struct net_fixture *fx = *state;
	char *conf = ctl_config(fx, FX_REPO_NAME), *v1;
	struct pc_head h;
	size_t v1_len;

	fx_set(fx, "mirror", fx->repo_url);
	fx_set(fx, "repository", FX_REPO_NAME);
	fx_start_net(fx);
	v1 = read_head(fx, &v1_len);
	parse(fx, v1, v1_len, &h);
	both_judge(fx, conf, 0, "version 1 of '" FX_REPO_NAME "'");

	snprintf(h.name, sizeof(h.name), "otherrepo");
	h.version = 2;
	serve_signed(fx, fx->key, &h);
	both_judge(fx, conf, -EPERM,
		   "is for repository 'otherrepo', not '" FX_REPO_NAME "'");
	free(v1);
	free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_head_judges_agree,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_head_judges_agree_on_repository, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
