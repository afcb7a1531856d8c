/*
 * test_net_control.c - the control socket as peercachectl sees it: one
 * line in, one JSON object and a newline out (docs/CONTROL.md).  Replies
 * are checked with a small JSON syntax checker, then for their keys and
 * values.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

/* ---- a JSON syntax checker (enough for replies: no floats needed) --- */

static bool json_value(const char **p);

static void skip_space(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
		(*p)++;
}

static bool json_string_ok(const char **p)
{
	if (**p != '"')
		return false;
	for ((*p)++; **p != '"'; (*p)++) {
		unsigned char c = (unsigned char)**p;

		if (c < 0x20)
			return false; /* raw control characters are invalid */
		if (c != '\\')
			continue;
		(*p)++;
		if (**p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!isxdigit((unsigned char)(*p)[i]))
					return false;
			*p += 4;
		} else if (!strchr("\"\\/bfnrt", **p) || !**p) {
			return false;
		}
	}
	(*p)++;
	return true;
}

static bool json_members(const char **p, char close, bool keyed)
{
	(*p)++;
	skip_space(p);
	if (**p == close) {
		(*p)++;
		return true;
	}
	for (;;) {
		skip_space(p);
		if (keyed) {
			if (!json_string_ok(p))
				return false;
			skip_space(p);
			if (*(*p)++ != ':')
				return false;
		}
		if (!json_value(p))
			return false;
		skip_space(p);
		if (**p == close) {
			(*p)++;
			return true;
		}
		if (*(*p)++ != ',')
			return false;
	}
}

static bool json_value(const char **p)
{
	skip_space(p);
	if (**p == '{')
		return json_members(p, '}', true);
	if (**p == '[')
		return json_members(p, ']', false);
	if (**p == '"')
		return json_string_ok(p);
	if (**p == '-' || isdigit((unsigned char)**p)) {
		(*p)++;
		while (isdigit((unsigned char)**p))
			(*p)++;
		return true;
	}
	for (const char *word = "true\0false\0null\0"; *word;
	     word += strlen(word) + 1)
		if (strncmp(*p, word, strlen(word)) == 0) {
			*p += strlen(word);
			return true;
		}
	return false;
}

/* One object, then exactly one newline, then nothing. */
static void assert_one_json_object(const char *reply)
{
	const char *p = reply;

	if (*p != '{' || !json_value(&p) || strcmp(p, "\n") != 0)
		fail_msg("not one JSON object and a newline: %s", reply);
}

/* The integer value of top-level member @key; fails if absent. */
static long long json_number(const char *reply, const char *key)
{
	char pattern[96];
	const char *at;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	at = strstr(reply, pattern);
	if (!at)
		fail_msg("no \"%s\" in %s", key, reply);
	return strtoll(at + strlen(pattern), NULL, 10);
}

static void assert_has(const char *reply, const char *text)
{
	if (!strstr(reply, text))
		fail_msg("no %s in %s", text, reply);
}

/* ---- talking to the socket ------------------------------------------- */

static int connect_control(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

/* Everything the server sends until it closes, within @seconds. */
static char *read_all(int fd, double seconds)
{
	double deadline = fx_now() + seconds;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t got;

	assert_non_null(buf);
	for (;;) {
		int left = (int)((deadline - fx_now()) * 1000);

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			fail_msg("the server did not close within %.0f s",
				 seconds);
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	return buf;
}

/* Sends @request (as is) and returns the whole answer. */
static char *ask(struct net_fixture *fx, const char *request, bool eof)
{
	int fd = connect_control(fx->control);
	char *reply;

	assert_int_equal(write(fd, request, strlen(request)),
			 (ssize_t)strlen(request));
	if (eof)
		shutdown(fd, SHUT_WR);
	reply = read_all(fd, 30);
	close(fd);
	return reply;
}

static void start(struct net_fixture *fx)
{
	fx_set(fx, "mirror", fx->repo_url);
	/* A second mirror with characters JSON must escape. */
	fx_set(fx, "mirror", "http://127.0.0.1:1/a\"b\\c");
	fx_start_net(fx);
	assert_int_equal(pc_net_refresh(fx->net, true, 10000), 0);
}

static void test_net_control_socket(void **state)
{
	struct net_fixture *fx = *state;
	static const char *const keys[] = {
		"repository", "version",   "published",	   "expires",
		"accepted",   "head_age",  "status",	   "last_error",
		"source",     "last_poll", "last_poll_ok", "mirrors",
	};
	char expect[256], *reply;
	struct stat st;

	start(fx);
	assert_int_equal(stat(fx->control, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	reply = ask(fx, "status\n", false);
	assert_one_json_object(reply);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(expect, sizeof(expect), "\"%s\":", keys[i]);
		assert_has(reply, expect);
	}
	assert_has(reply, "\"repository\":\"" FX_REPO_NAME "\"");
	assert_int_equal(json_number(reply, "version"), 1);
	assert_has(reply, "\"status\":\"up_to_date\"");
	assert_has(reply, "\"last_error\":\"\"");
	snprintf(expect, sizeof(expect), "\"source\":\"%s\"", fx->repo_url);
	assert_has(reply, expect);
	snprintf(expect, sizeof(expect),
		 "\"mirrors\":[\"%s\",\"http://127.0.0.1:1/a\\\"b\\\\c\"]",
		 fx->repo_url);
	assert_has(reply, expect);
	assert_true(json_number(reply, "published") > 1600000000);
	assert_true(json_number(reply, "expires") > json_number(reply, "publish"
								       "ed"));
	assert_true(json_number(reply, "accepted") >= json_number(reply, "publi"
									 "she"
									 "d"));
	assert_true(json_number(reply, "head_age") >= 0);
	assert_true(json_number(reply, "last_poll_ok") > 0);
	free(reply);
}

static void test_net_control_stats(void **state)
{
	struct net_fixture *fx = *state;
	static const char *const keys[] = {
		"version",
		"cache_bytes",
		"chunks",
		"hits",
		"misses",
		"bytes_from_cache",
		"bytes_from_peers",
		"bytes_from_mirror",
		"bytes_served_peers",
		"bad_from_mirror",
	};
	char expect[128], *reply;

	start(fx);
	/* Without a newline, ended by EOF: also one request. */
	reply = ask(fx, "stats", true);
	assert_one_json_object(reply);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_number(reply, keys[i]);
	for (int c = 0; c < PC_CTR_COUNT; c++)
		json_number(reply, pc_counter_name((enum pc_counter)c));
	assert_int_equal(json_number(reply, "version"), 1);
	/* The manifest came from the mirror. */
	assert_true(json_number(reply, "bytes_from_mirror") > 0);
	assert_int_equal(json_number(reply, "bad_from_mirror"), 0);
	snprintf(expect, sizeof(expect), "\"bytes_from_mirror\":%llu",
		 (unsigned long long)pc_store_counter(
			 fx->store, PC_CTR_BYTES_FROM_MIRROR));
	assert_has(reply, expect);
	free(reply);
}

static void test_net_control_refresh(void **state)
{
	struct net_fixture *fx = *state;
	char *reply, *path;

	start(fx);
	reply = ask(fx, "refresh\r\n", false);
	assert_one_json_object(reply);
	assert_string_equal(reply, "{\"result\":\"ok\",\"error\":\"\","
				   "\"version\":1,\"status\":\"up_to_date\","
				   "\"reason\":\"\"}\n");
	free(reply);

	/* A new version appears: refresh installs it before answering. */
	fx_publish(fx, fx->key, FX_REPO_NAME, NULL, fx->repo);
	reply = ask(fx, "refresh\n", false);
	assert_string_equal(reply, "{\"result\":\"ok\",\"error\":\"\","
				   "\"version\":2,\"status\":\"up_to_date\","
				   "\"reason\":\"\"}\n");
	free(reply);

	/* A broken head: the error says why, the version stays. */
	path = pc_test_path(fx->repo, "head");
	fx_replace_file(path, "peercache-head 1\n", 17);
	free(path);
	reply = ask(fx, "refresh\n", false);
	assert_one_json_object(reply);
	assert_has(reply, "\"result\":\"error\"");
	assert_has(reply, "truncated");
	assert_has(reply, "\"version\":2");
	assert_has(reply, "\"status\":\"failing\"");
	free(reply);
}

/* A poll that takes longer than the refresh's deadline (twice
 * fetch_timeout, at least 5 s): the answer comes by then, saying the poll
 * is still running, and the poll finishes without the client. */
static void test_net_control_refresh_answers_by_its_deadline(void **state)
{
	struct net_fixture *fx = *state;
	char url[64], *reply;
	double start;
	int port;

	fx->stall = fx_stall_start(&port);
	for (int i = 0; i < 4; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/m%d", port, i);
		fx_set(fx, "mirror", url);
	}
	fx_set(fx, "fetch_timeout", "2s");
	fx_start_net(fx);
	start = fx_now();
	reply = ask(fx, "refresh\n", false);
	assert_one_json_object(reply);
	assert_true(fx_now() - start < 7.5);
	assert_has(reply, "\"result\":\"pending\"");
	assert_has(reply, "still in progress after 5 s");
	free(reply);
	/* The daemon still answers, and the poll ends on its own. */
	reply = ask(fx, "status\n", false);
	assert_one_json_object(reply);
	free(reply);
}

static void test_net_control_bad_requests(void **state)
{
	struct net_fixture *fx = *state;
	char line[400], *reply;
	double start_s;
	int fd;

	start(fx);
	reply = ask(fx, "hello\n", false);
	assert_string_equal(reply, "{\"error\":\"unknown command\"}\n");
	free(reply);
	reply = ask(fx, "status extra\n", false);
	assert_string_equal(reply, "{\"error\":\"unknown command\"}\n");
	free(reply);

	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	reply = ask(fx, line, false);
	assert_string_equal(reply, "{\"error\":\"request too long\"}\n");
	free(reply);

	/* 256 bytes are still a request (here an unknown one). */
	memset(line, 'b', 256);
	strcpy(line + 256, "\n");
	reply = ask(fx, line, false);
	assert_string_equal(reply, "{\"error\":\"unknown command\"}\n");
	free(reply);

	/* Silence is cut off after 5 s, without an answer. */
	fd = connect_control(fx->control);
	start_s = fx_now();
	reply = read_all(fd, 10);
	close(fd);
	assert_string_equal(reply, "");
	assert_true(fx_now() - start_s > 4.5);
	free(reply);

	/* A client that hangs up before its answer harms nobody. */
	fd = connect_control(fx->control);
	assert_int_equal(write(fd, "refresh\n", 8), 8);
	close(fd);
	fd = connect_control(fx->control);
	assert_int_equal(write(fd, "stats\n", 6), 6);
	close(fd);

	/* The loop still serves others. */
	reply = ask(fx, "status\n", false);
	assert_one_json_object(reply);
	free(reply);
}

static void test_net_control_socket_ownership(void **state)
{
	struct net_fixture *fx = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char why[256] = "";
	struct pc_net *second;
	int fd;

	start(fx);
	/* Another daemon answers on the socket: refused. */
	second = pc_net_new(&fx->cfg, fx->store, fx->ring, NULL, why,
			    sizeof(why));
	assert_null(second);
	assert_non_null(strstr(why, "in use"));

	/* Stopping removes the socket. */
	fx_stop_net(fx);
	assert_int_equal(access(fx->control, F_OK), -1);

	/* A socket left by a crashed daemon is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fx->control);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	fx_start_net(fx);
	free(ask(fx, "status\n", false));

	/* Something that is not a socket is left alone. */
	fx_stop_net(fx);
	pc_test_write_file(fx->control, "keep me", 7);
	second = pc_net_new(&fx->cfg, fx->store, fx->ring, NULL, why,
			    sizeof(why));
	assert_null(second);
	assert_non_null(strstr(why, "not a socket"));
	assert_int_equal(unlink(fx->control), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_net_control_socket,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_control_stats,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_control_refresh,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_control_refresh_answers_by_its_deadline,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_control_bad_requests,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_control_socket_ownership, fx_setup,
			fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
