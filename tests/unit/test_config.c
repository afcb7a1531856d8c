/*
 * test_config.c - the daemon's configuration (common/config.c): every key
 * type takes the values the sample config documents and refuses the rest
 * with a message naming the key, leaving the old value in place; lists
 * keep their order up to their capacity; unknown keys and sections are
 * refused; and the printed configuration, loaded again, is the same
 * configuration (what `peercache --print-config` shows is a config file).
 *
 * Numbers stay within their key's bounds; a file is read only if it is a
 * regular file of bounded size, of text lines, and a refusal names its
 * line; values in messages are escaped for a terminal.
 *
 * The table of every key with its default lives in one place here
 * (key_names, test_config_defaults_are_the_documented_ones): a key added
 * to config.c fails test_config_print_names_every_key until it is added
 * here, with its default and its type's tests.  (Keys that only a
 * [repository NAME] section takes, mount_point, are not printed at the
 * top level: test_config_repos.c covers them.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "pc_config.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1024ull * 1024)

/* Every key config.c knows, in its table's order. */
static const char *const key_names[] = {
	"mirror",
	"trusted_key",
	"repository",
	"cache_dir",
	"control_socket",
	"proxy",
	"ca_file",
	"poll_interval",
	"fetch_timeout",
	"connect_timeout",
	"low_speed_time",
	"max_fetches",
	"prefetch",
	"read_ahead",
	"log_level",
	"discovery",
	"discovery_port",
	"interfaces",
	"discovery_group",
	"peers",
	"peer_allow",
	"fleet_key_file",
	"discovery_timeout",
	"peer_server",
	"peer_port",
	"max_uploads",
	"peer_ban_time",
	"passthrough",
	"mirror_serve",
	"mirror_allow",
	"quota",
	"max_age",
	"purge_interval",
	"metrics_listen",
	"control_group",
};

/* ---- helpers -------------------------------------------------------------- */

static void defaults(struct pc_config *cfg)
{
	assert_ok(pc_config_defaults(cfg), NULL);
}

/* Sets @key to @text; fails the test at the caller's line if refused. */
#define set_ok(cfg, key, text) \
	set_ok_at((cfg), (key), (text), __FILE__, __LINE__)
static void set_ok_at(struct pc_config *cfg, const char *key, const char *text,
		      const char *file, int line)
{
	char err[256] = "";

	pc_test_check_ok(pc_config_set(cfg, key, text, err, sizeof(err)), err,
			 file, line);
}

/* @key=@text is refused with -EINVAL and a message naming the key. */
#define set_bad(cfg, key, text) \
	set_bad_at((cfg), (key), (text), __FILE__, __LINE__)
static void set_bad_at(struct pc_config *cfg, const char *key, const char *text,
		       const char *file, int line)
{
	char err[256] = "";

	pc_test_check_error(pc_config_set(cfg, key, text, err, sizeof(err)),
			    -EINVAL, err, key, file, line);
}

struct number_case {
	const char *key;
	const char *text;
	uint64_t value;
};

/* The uint64_t field behind a numeric key. */
static uint64_t *number_field(struct pc_config *cfg, const char *key)
{
	static const struct {
		const char *key;
		size_t offset;
	} fields[] = {
		{ "poll_interval", offsetof(struct pc_config, poll_interval) },
		{ "fetch_timeout", offsetof(struct pc_config, fetch_timeout) },
		{ "connect_timeout",
		  offsetof(struct pc_config, connect_timeout) },
		{ "low_speed_time",
		  offsetof(struct pc_config, low_speed_time) },
		{ "max_fetches", offsetof(struct pc_config, max_fetches) },
		{ "prefetch", offsetof(struct pc_config, prefetch) },
		{ "read_ahead", offsetof(struct pc_config, read_ahead) },
		{ "discovery_port",
		  offsetof(struct pc_config, discovery_port) },
		{ "discovery_timeout",
		  offsetof(struct pc_config, discovery_timeout) },
		{ "peer_port", offsetof(struct pc_config, peer_port) },
		{ "max_uploads", offsetof(struct pc_config, max_uploads) },
		{ "peer_ban_time", offsetof(struct pc_config, peer_ban_time) },
		{ "quota", offsetof(struct pc_config, quota) },
		{ "max_age", offsetof(struct pc_config, max_age) },
		{ "purge_interval",
		  offsetof(struct pc_config, purge_interval) },
	};

	for (size_t i = 0; i < N(fields); i++)
		if (strcmp(fields[i].key, key) == 0)
			return (uint64_t *)((char *)cfg + fields[i].offset);
	print_error("no numeric field for key '%s'\n", key);
	fail();
	return NULL;
}

static void check_numbers_good(const struct number_case *cases, size_t n)
{
	struct pc_config cfg;

	defaults(&cfg);
	for (size_t i = 0; i < n; i++) {
		uint64_t *field = number_field(&cfg, cases[i].key);

		set_ok(&cfg, cases[i].key, cases[i].text);
		if (*field != cases[i].value) {
			print_error("%s = %s gave %llu, want %llu\n",
				    cases[i].key, cases[i].text,
				    (unsigned long long)*field,
				    (unsigned long long)cases[i].value);
			fail();
		}
	}
	pc_config_free(&cfg);
}

/* Each text is refused for @key, which keeps the value it had. */
static void check_numbers_bad(const char *key, const char *const *texts,
			      size_t n)
{
	struct pc_config cfg;

	defaults(&cfg);
	for (size_t i = 0; i < n; i++) {
		uint64_t *field = number_field(&cfg, key);
		uint64_t before = *field;

		set_bad(&cfg, key, texts[i]);
		if (*field != before) {
			print_error("refused %s = '%s' still changed the value "
				    "from %llu to %llu\n",
				    key, texts[i], (unsigned long long)before,
				    (unsigned long long)*field);
			fail();
		}
	}
	pc_config_free(&cfg);
}

/* @text written to a new file in a new scratch directory; returns the
 * file's path (free it) and the directory in *@dir. */
static char *config_file(const char *text, char **dir)
{
	char *path;

	*dir = pc_test_tmpdir();
	path = pc_test_path(*dir, "peercache.conf");
	pc_test_write_file(path, text, strlen(text));
	return path;
}

/* The configuration as printed, in a new string (caller frees). */
static char *printed(const struct pc_config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	pc_config_print(cfg, out);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* ---- defaults ------------------------------------------------------------- */

static void test_config_defaults_are_the_documented_ones(void **state)
{
	struct pc_config cfg;

	(void)state;
	defaults(&cfg);
	assert_int_equal(cfg.nmirrors, 0);
	assert_int_equal(cfg.ntrusted_keys, 0);
	assert_string_equal(cfg.repository, "");
	assert_string_equal(cfg.cache_dir, PC_DEFAULT_CACHE_DIR);
	assert_string_equal(cfg.control_socket, "");
	assert_string_equal(cfg.proxy, "");
	assert_string_equal(cfg.ca_file, "");
	assert_int_equal(cfg.poll_interval, 600);
	assert_int_equal(cfg.fetch_timeout, 30);
	assert_int_equal(cfg.connect_timeout, 5);
	assert_int_equal(cfg.low_speed_time, 10);
	assert_int_equal(cfg.max_fetches, 8);
	assert_int_equal(cfg.prefetch, 16);
	assert_int_equal(cfg.read_ahead, 3840 * 1024);
	assert_int_equal(cfg.log_level, PC_LOG_INFO);
	assert_true(cfg.discovery);
	assert_int_equal(cfg.discovery_port, 8082);
	assert_string_equal(cfg.interfaces, "");
	assert_string_equal(cfg.discovery_group, "");
	assert_string_equal(cfg.peers, "");
	assert_string_equal(cfg.peer_allow, "");
	assert_string_equal(cfg.fleet_key_file, "");
	assert_int_equal(cfg.discovery_timeout, 50);
	assert_true(cfg.peer_server);
	assert_int_equal(cfg.peer_port, 8081);
	assert_int_equal(cfg.max_uploads, 50);
	assert_int_equal(cfg.peer_ban_time, 600);
	assert_true(cfg.passthrough);
	assert_false(cfg.mirror_serve);
	assert_string_equal(cfg.mirror_allow, "");
	assert_int_equal(cfg.quota, 512 * MIB);
	assert_int_equal(cfg.max_age, 30 * 86400);
	assert_int_equal(cfg.purge_interval, 3600);
	assert_string_equal(cfg.metrics_listen, "");
	assert_string_equal(cfg.control_group, "");
	pc_config_free(&cfg);
}

/* ---- one test per key type ------------------------------------------------ */

static void test_config_durations_take_suffixes_and_refuse_zero(void **state)
{
	static const struct number_case good[] = {
		{ "poll_interval", "90", 90 },
		{ "poll_interval", "90s", 90 },
		{ "poll_interval", "15m", 900 },
		{ "fetch_timeout", "2m", 120 },
		{ "connect_timeout", "1", 1 },
		{ "low_speed_time", "1h", 3600 },
		{ "peer_ban_time", "12h", 43200 },
		{ "max_age", "7d", 604800 },
		{ "max_age", "2w", 1209600 },
		{ "purge_interval", "30m", 1800 },
	};
	static const char *const bad[] = {
		"0",	"",    "abc", "10x", "-5",
		"1.5h", "5 m", "5H",  "m",   "18446744073709551616",
		"0s",
	};
	static const char *const duration_keys[] = {
		"poll_interval",  "fetch_timeout", "connect_timeout",
		"low_speed_time", "peer_ban_time", "max_age",
		"purge_interval",
	};

	(void)state;
	check_numbers_good(good, N(good));
	for (size_t i = 0; i < N(duration_keys); i++)
		check_numbers_bad(duration_keys[i], bad, N(bad));
}

static void test_config_millis_take_ms_or_seconds_within_bounds(void **state)
{
	static const struct number_case good[] = {
		{ "discovery_timeout", "50ms", 50 },
		{ "discovery_timeout", "1ms", 1 },
		{ "discovery_timeout", "10000ms", 10000 },
		{ "discovery_timeout", "1s", 1000 },
		{ "discovery_timeout", "10s", 10000 },
		{ "discovery_timeout", "2", 2000 }, /* plain = seconds */
	};
	static const char *const bad[] = {
		"0ms",	 "0", "10001ms", "11s",	 "1m",	 "ms",	 "-1ms", "5xms",
		"1.5ms", "",  "abc",	 "5 ms", "50MS", "+5ms", " 5ms",
	};

	(void)state;
	check_numbers_good(good, N(good));
	check_numbers_bad("discovery_timeout", bad, N(bad));
}

static void test_config_sizes_take_binary_units(void **state)
{
	static const struct number_case good[] = {
		{ "quota", "512M", 512 * MIB },
		{ "quota", "5G", 5120 * MIB },
		{ "quota", "16777216", 16 * MIB },
		{ "quota", "16384KiB", 16 * MIB },
		{ "quota", "1T", 1024 * 1024 * MIB },
		{ "quota", "2gb", 2048 * MIB },
		{ "read_ahead", "960K", 960 * 1024 },
		{ "read_ahead", "128K", 128 * 1024 },
		{ "read_ahead", "16M", 16 * MIB },
	};
	static const char *const bad[] = {
		"0", "", "lots", "-1", "5X", "1.5G", "12P", "0x10", "M",
	};
	/* Sizes, but below what one read needs (PC_CONFIG_QUOTA_MIN). */
	static const char *const small[] = { "1", "4096", "64KiB", "16777215" };
	/* The mount's read-ahead: from 128K to 16M. */
	static const char *const read_ahead_out[] = { "4096", "127K", "17M",
						      "1G" };

	(void)state;
	check_numbers_good(good, N(good));
	check_numbers_bad("quota", bad, N(bad));
	check_numbers_bad("quota", small, N(small));
	check_numbers_bad("read_ahead", bad, N(bad));
	check_numbers_bad("read_ahead", read_ahead_out, N(read_ahead_out));
}

static void test_config_counts_stay_within_their_bounds(void **state)
{
	static const struct {
		const char *key;
		const char *lowest, *highest, *over;
		uint64_t max;
	} bounds[] = {
		{ "max_fetches", "1", "256", "257", 256 },
		{ "prefetch", "1", "64", "65", 64 },
		{ "discovery_port", "1", "65535", "65536", 65535 },
		{ "peer_port", "1", "65535", "65536", 65535 },
		{ "max_uploads", "1", "10000", "10001", 10000 },
	};
	static const char *const bad[] = {
		"0",
		"",
		"8x",
		"x8",
		"-1",
		"1e3",
		"0x10",
		"18446744073709551616",
		"+8",
		" 8",
		"-18446744073709551615",
	};

	(void)state;
	for (size_t i = 0; i < N(bounds); i++) {
		const struct number_case good[] = {
			{ bounds[i].key, bounds[i].lowest, 1 },
			{ bounds[i].key, bounds[i].highest, bounds[i].max },
		};
		const char *const over[] = { bounds[i].over };

		check_numbers_good(good, N(good));
		check_numbers_bad(bounds[i].key, over, N(over));
		check_numbers_bad(bounds[i].key, bad, N(bad));
	}
}

static void test_config_on_off_takes_the_usual_words(void **state)
{
	static const char *const yes[] = {
		"on", "yes", "true", "1", "ON", "Yes"
	};
	static const char *const no[] = { "off", "no",	"false",
					  "0",	 "OFF", "False" };
	static const char *const bad[] = { "",	  "maybe",   "2",
					   "onn", "enabled", "o" };
	const char *const keys[] = { "discovery", "peer_server",
				     "passthrough" };
	struct pc_config cfg;

	(void)state;
	defaults(&cfg);
	for (size_t k = 0; k < N(keys); k++) {
		bool *field = k == 0   ? &cfg.discovery
			      : k == 1 ? &cfg.peer_server
				       : &cfg.passthrough;

		for (size_t i = 0; i < N(no); i++) {
			*field = true;
			set_ok(&cfg, keys[k], no[i]);
			assert_false(*field);
		}
		for (size_t i = 0; i < N(yes); i++) {
			*field = false;
			set_ok(&cfg, keys[k], yes[i]);
			assert_true(*field);
		}
		for (size_t i = 0; i < N(bad); i++) {
			set_bad(&cfg, keys[k], bad[i]);
			assert_true(*field); /* unchanged */
		}
	}
	pc_config_free(&cfg);
}

static void test_config_log_level_is_one_of_four(void **state)
{
	static const struct {
		const char *text;
		enum pc_log_level level;
	} good[] = {
		{ "error", PC_LOG_ERROR }, { "warn", PC_LOG_WARN },
		{ "info", PC_LOG_INFO },   { "debug", PC_LOG_DEBUG },
		{ "DEBUG", PC_LOG_DEBUG },
	};
	struct pc_config cfg;

	(void)state;
	defaults(&cfg);
	for (size_t i = 0; i < N(good); i++) {
		set_ok(&cfg, "log_level", good[i].text);
		assert_int_equal(cfg.log_level, good[i].level);
	}
	set_bad(&cfg, "log_level", "verbose");
	set_bad(&cfg, "log_level", "warning");
	set_bad(&cfg, "log_level", "");
	assert_int_equal(cfg.log_level, PC_LOG_DEBUG);
	pc_config_free(&cfg);
}

static void test_config_strings_take_the_last_value(void **state)
{
	const char *const keys[] = {
		"repository",	   "cache_dir",	     "control_socket",
		"proxy",	   "ca_file",	     "interfaces",
		"discovery_group", "peers",	     "peer_allow",
		"fleet_key_file",  "metrics_listen", "control_group",
	};
	struct pc_config cfg;
	char *text;

	(void)state;
	defaults(&cfg);
	/* Set twice (the first copy must be freed: ASan's leak check), then
	 * to the empty value, which means "none" for every one of them. */
	for (size_t i = 0; i < N(keys); i++) {
		set_ok(&cfg, keys[i], "first");
		set_ok(&cfg, keys[i], "second value, with spaces");
	}
	text = printed(&cfg);
	for (size_t i = 0; i < N(keys); i++) {
		char line[128];

		snprintf(line, sizeof(line),
			 "\n%s = second value, with spaces\n", keys[i]);
		if (!strstr(text, line)) {
			print_error("'%s' not in the printed config:\n%s\n",
				    line + 1, text);
			fail();
		}
	}
	free(text);
	set_ok(&cfg, "proxy", "");
	assert_string_equal(cfg.proxy, "");
	pc_config_free(&cfg);
}

static void test_config_lists_keep_order_up_to_capacity(void **state)
{
	struct pc_config cfg;
	char err[256] = "";
	char value[64];

	(void)state;
	defaults(&cfg);
	for (size_t i = 0; i < PC_CONFIG_MAX_MIRRORS; i++) {
		snprintf(value, sizeof(value), "http://m%zu.example/repo", i);
		set_ok(&cfg, "mirror", value);
	}
	for (size_t i = 0; i < PC_CONFIG_MAX_KEYS; i++) {
		snprintf(value, sizeof(value), "/etc/peercache/k%zu.pub", i);
		set_ok(&cfg, "trusted_key", value);
	}
	assert_int_equal(cfg.nmirrors, PC_CONFIG_MAX_MIRRORS);
	assert_int_equal(cfg.ntrusted_keys, PC_CONFIG_MAX_KEYS);
	for (size_t i = 0; i < PC_CONFIG_MAX_MIRRORS; i++) {
		snprintf(value, sizeof(value), "http://m%zu.example/repo", i);
		assert_string_equal(cfg.mirrors[i], value);
	}
	/* One more is refused, says the capacity, and changes nothing. */
	assert_error(pc_config_set(&cfg, "mirror", "http://one-too-many/", err,
				   sizeof(err)),
		     -EINVAL, err, "mirror: at most 16 values");
	assert_error(pc_config_set(&cfg, "trusted_key", "/one/too/many.pub",
				   err, sizeof(err)),
		     -EINVAL, err, "trusted_key: at most 16 values");
	assert_int_equal(cfg.nmirrors, PC_CONFIG_MAX_MIRRORS);
	assert_int_equal(cfg.ntrusted_keys, PC_CONFIG_MAX_KEYS);
	snprintf(value, sizeof(value), "http://m%d.example/repo",
		 PC_CONFIG_MAX_MIRRORS - 1);
	assert_string_equal(cfg.mirrors[PC_CONFIG_MAX_MIRRORS - 1], value);
	pc_config_free(&cfg);
}

/* ---- unknown keys and sections, files ---------------------------------- */

static void test_config_unknown_key_is_named(void **state)
{
	struct pc_config cfg;
	char err[256] = "";

	(void)state;
	defaults(&cfg);
	assert_error(
		pc_config_set(&cfg, "mirrors", "http://x/", err, sizeof(err)),
		-EINVAL, err, "unknown configuration key 'mirrors'");
	assert_error(pc_config_set(&cfg, "", "x", err, sizeof(err)), -EINVAL,
		     err, "unknown configuration key ''");
	assert_error(
		pc_config_set(&cfg, "Mirror", "http://x/", err, sizeof(err)),
		-EINVAL, err, "'Mirror'");
	assert_int_equal(cfg.nmirrors, 0);
	pc_config_free(&cfg);
}

/* Loads @text as a file; returns the result, the message in @err. */
static int load_text(struct pc_config *cfg, const char *text, char *err,
		     size_t errlen, char **path_out)
{
	char *dir, *path = config_file(text, &dir);
	int rc = pc_config_load_file(cfg, path, true, err, errlen);

	if (path_out)
		*path_out = strdup(path);
	free(path);
	pc_test_rmtree(dir);
	return rc;
}

static void test_config_file_refuses_unknown_keys_and_sections(void **state)
{
	struct pc_config cfg;
	char err[512] = "", *path = NULL;

	(void)state;
	/* Keys at the top and in [peercache] both count; comments ignored. */
	defaults(&cfg);
	assert_ok(load_text(&cfg,
			    "# comment\nmirror = http://a/\n; another\n"
			    "[peercache]\nmirror = http://b/\nquota = 1G\n",
			    err, sizeof(err), NULL),
		  err);
	assert_int_equal(cfg.nmirrors, 2);
	assert_string_equal(cfg.mirrors[1], "http://b/");
	assert_int_equal(cfg.quota, 1024 * MIB);
	pc_config_free(&cfg);

	defaults(&cfg);
	assert_error(load_text(&cfg,
			       "[peercache]\nquota = 1G\nfrobnicate = 3\n", err,
			       sizeof(err), &path),
		     -EINVAL, err, "unknown configuration key 'frobnicate'");
	assert_message(err, path); /* and which file */
	free(path);
	pc_config_free(&cfg);

	defaults(&cfg);
	assert_error(load_text(&cfg,
			       "[peercache]\nquota = 1G\n[mirrors]\n"
			       "mirror = http://a/\n",
			       err, sizeof(err), NULL),
		     -EINVAL, err, "unknown section [mirrors]");
	assert_int_equal(cfg.nmirrors, 0);
	pc_config_free(&cfg);

	defaults(&cfg);
	assert_error(load_text(&cfg, "[peercache]\nquota = lots\n", err,
			       sizeof(err), NULL),
		     -EINVAL, err, "quota: 'lots' is not a size");
	assert_int_equal(cfg.quota, 512 * MIB);
	pc_config_free(&cfg);

	defaults(&cfg);
	assert_error(load_text(&cfg, "[peercache]\nquota = 1G\njust words\n",
			       err, sizeof(err), &path),
		     -EINVAL, err, ":3: syntax error");
	assert_message(err, path);
	free(path);
	pc_config_free(&cfg);
}

static void test_config_missing_file_is_an_error_only_if_named(void **state)
{
	struct pc_config cfg;
	char err[512] = "";

	(void)state;
	defaults(&cfg);
	assert_ok(pc_config_load_file(&cfg, "/nonexistent/peercache.conf",
				      false, err, sizeof(err)),
		  err);
	assert_int_equal(cfg.quota, 512 * MIB);
	assert_error(pc_config_load_file(&cfg, "/nonexistent/peercache.conf",
					 true, err, sizeof(err)),
		     -ENOENT, err, "/nonexistent/peercache.conf");
	pc_config_free(&cfg);
}

/* A line longer than the INI reader's buffer must never be cut short
 * silently into a different mirror, nor be reported at the line after it
 * as a syntax error: it is refused with its own line number. */
static void test_config_long_line_is_refused_at_its_line(void **state)
{
	char url[320], text[400], err[512] = "";
	struct pc_config cfg;

	(void)state;
	memset(url, 'a', sizeof(url));
	memcpy(url, "http://", 7);
	memcpy(url + sizeof(url) - 6, "/repo", 6);
	snprintf(text, sizeof(text),
		 "[peercache]\nquota = 1G\nmirror = %s\n"
		 "prefetch = 2\n",
		 url);
	defaults(&cfg);
	assert_error(load_text(&cfg, text, err, sizeof(err), NULL), -EINVAL,
		     err, ":3: line longer than");
	assert_int_equal(cfg.nmirrors, 0);
	pc_config_free(&cfg);
}

/* Bytes that are not text stop the file at their line, and are not
 * echoed: a message quotes a value's odd bytes as \xNN. */
static void test_config_binary_bytes_are_refused_not_echoed(void **state)
{
	struct pc_config cfg;
	char err[512] = "";

	(void)state;
	defaults(&cfg);
	assert_error(load_text(&cfg, "[peercache]\nquota = 1\x1b[31mG\n", err,
			       sizeof(err), NULL),
		     -EINVAL, err, ":2: control byte 0x1b");
	assert_null(strchr(err, 0x1b));
	pc_config_free(&cfg);

	defaults(&cfg);
	assert_error(
		pc_config_set(&cfg, "quota", "1\x1b[31m\xff", err, sizeof(err)),
		-EINVAL, err, "'1\\x1b[31m\\xff' is not a size");
	assert_error(pc_config_set(&cfg, "no\x07such", "1", err, sizeof(err)),
		     -EINVAL, err, "unknown configuration key 'no\\x07such'");
	pc_config_free(&cfg);
}

/* Only a regular file (or /dev/null) is read, and only up to
 * PC_CONFIG_FILE_MAX: /dev/zero would never end, a directory is not an
 * empty file. */
static void test_config_file_must_be_regular_and_bounded(void **state)
{
	char err[512] = "", *dir, *path, *big;
	struct pc_config cfg;

	(void)state;
	defaults(&cfg);
	assert_error(
		pc_config_load_file(&cfg, "/dev/zero", true, err, sizeof(err)),
		-EINVAL, err, "/dev/zero: not a regular file");
	dir = pc_test_tmpdir();
	assert_error(pc_config_load_file(&cfg, dir, true, err, sizeof(err)),
		     -EISDIR, err, "is a directory");
	assert_ok(
		pc_config_load_file(&cfg, "/dev/null", true, err, sizeof(err)),
		err);
	big = calloc(1, PC_CONFIG_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '\n', PC_CONFIG_FILE_MAX + 1);
	path = pc_test_path(dir, "big.conf");
	pc_test_write_file(path, big, PC_CONFIG_FILE_MAX + 1);
	assert_error(pc_config_load_file(&cfg, path, true, err, sizeof(err)),
		     -EFBIG, err, "larger than");
	free(big);
	free(path);
	pc_test_rmtree(dir);
	pc_config_free(&cfg);
}

/* Every duration and size has an upper bound: 2^64-1 seconds would
 * overflow every millisecond computation downstream. */
static void test_config_numbers_stay_within_their_bounds(void **state)
{
	static const struct {
		const char *key, *highest, *over, *message;
	} bounds[] = {
		{ "poll_interval", "30d", "31d", "from 10s to 30d" },
		{ "fetch_timeout", "1h", "61m", "from 2s to 1h" },
		{ "connect_timeout", "10m", "601", "from 1s to 10m" },
		{ "low_speed_time", "1h", "3601s", "from 1s to 1h" },
		{ "peer_ban_time", "30d", "5w", "from 1s to 30d" },
		{ "max_age", "3650d", "3651d", "from 1s to 3650d" },
		{ "purge_interval", "30d", "31d", "from 1s to 30d" },
		{ "quota", "1024T", "1025T", "from 16M to 1024T" },
		{ "read_ahead", "16M", "16385K", "from 128K to 16M" },
	};
	struct pc_config cfg;
	char err[256] = "";

	(void)state;
	for (size_t i = 0; i < N(bounds); i++) {
		defaults(&cfg);
		set_ok(&cfg, bounds[i].key, bounds[i].highest);
		assert_error(pc_config_set(&cfg, bounds[i].key, bounds[i].over,
					   err, sizeof(err)),
			     -EINVAL, err, bounds[i].message);
		assert_error(pc_config_set(&cfg, bounds[i].key,
					   "18446744073709551615", err,
					   sizeof(err)),
			     -EINVAL, err, "out of range");
		pc_config_free(&cfg);
	}
	defaults(&cfg);
	assert_error(
		pc_config_set(&cfg, "fetch_timeout", "1s", err, sizeof(err)),
		-EINVAL, err, "fetch_timeout: '1s' is out of range");
	assert_error(
		pc_config_set(&cfg, "poll_interval", "9", err, sizeof(err)),
		-EINVAL, err, "from 10s");
	pc_config_free(&cfg);
}

/* mirror_serve = on serves nobody by default: without mirror_allow (or
 * without the peer server whose port it uses) it is refused, with a
 * message that says what to add. */
static void test_config_mirror_serve_needs_mirror_allow(void **state)
{
	struct pc_config cfg;
	char err[256] = "";

	(void)state;
	defaults(&cfg);
	set_ok(&cfg, "mirror", "http://a/");
	set_ok(&cfg, "trusted_key", "/k.pub");
	set_ok(&cfg, "mirror_serve", "on");
	assert_error(pc_config_finish(&cfg, err, sizeof(err)), -EINVAL, err,
		     "mirror_serve = on needs mirror_allow");
	set_ok(&cfg, "mirror_allow", "10.40.0.0/16");
	assert_ok(pc_config_finish(&cfg, err, sizeof(err)), err);
	assert_true(cfg.mirror_serve);
	set_ok(&cfg, "peer_server", "off");
	assert_error(pc_config_finish(&cfg, err, sizeof(err)), -EINVAL, err,
		     "mirror_serve = on needs peer_server = on");
	pc_config_free(&cfg);
}

/* A stalled mirror must leave a read time for the next one: a default
 * low_speed_time is lowered below fetch_timeout, an explicit one that is
 * not below it is refused. */
static void test_config_low_speed_time_below_fetch_timeout(void **state)
{
	struct pc_config cfg;
	char err[256] = "";

	(void)state;
	defaults(&cfg);
	set_ok(&cfg, "mirror", "http://a/");
	set_ok(&cfg, "trusted_key", "/k.pub");
	set_ok(&cfg, "fetch_timeout", "5s");
	assert_ok(pc_config_finish(&cfg, err, sizeof(err)), err);
	assert_int_equal(cfg.low_speed_time, 2);
	pc_config_free(&cfg);

	defaults(&cfg);
	set_ok(&cfg, "mirror", "http://a/");
	set_ok(&cfg, "trusted_key", "/k.pub");
	set_ok(&cfg, "fetch_timeout", "5s");
	set_ok(&cfg, "low_speed_time", "10s");
	assert_error(pc_config_finish(&cfg, err, sizeof(err)), -EINVAL, err,
		     "low_speed_time (10s) must be shorter than fetch_timeout "
		     "(5s)");
	pc_config_free(&cfg);

	defaults(&cfg);
	set_ok(&cfg, "mirror", "http://a/");
	set_ok(&cfg, "trusted_key", "/k.pub");
	assert_ok(pc_config_finish(&cfg, err, sizeof(err)), err);
	assert_int_equal(cfg.low_speed_time, 10); /* the default stands */
	pc_config_free(&cfg);
}

/* ---- finish: derived values and cross-key checks ------------------------- */

static void test_config_finish_needs_a_mirror_and_a_key(void **state)
{
	struct pc_config cfg;
	char err[256] = "";

	(void)state;
	defaults(&cfg);
	assert_error(pc_config_finish(&cfg, err, sizeof(err)), -EINVAL, err,
		     "mirror: at least one mirror");
	set_ok(&cfg, "mirror", "http://a/");
	assert_error(pc_config_finish(&cfg, err, sizeof(err)), -EINVAL, err,
		     "trusted_key: at least one trusted key");
	set_ok(&cfg, "trusted_key", "/k.pub");
	set_ok(&cfg, "cache_dir", "/var/cache/peercache/av");
	assert_ok(pc_config_finish(&cfg, err, sizeof(err)), err);
	assert_string_equal(cfg.cache_dir, "/var/cache/peercache/av");
	snprintf(err, sizeof(err), "%s/control.sock", cfg.cache_dir);
	assert_string_equal(cfg.control_socket, err);
	pc_config_free(&cfg);

	defaults(&cfg);
	set_ok(&cfg, "mirror", "http://a/");
	set_ok(&cfg, "trusted_key", "/k.pub");
	set_ok(&cfg, "control_socket", "/run/peercache.sock");
	assert_ok(pc_config_finish(&cfg, err, sizeof(err)), err);
	assert_string_equal(cfg.control_socket, "/run/peercache.sock");
	pc_config_free(&cfg);
}

/* ---- print -> load round trip ------------------------------------------ */

/* Every key with a value other than its default (two of each list). */
static void set_everything(struct pc_config *cfg)
{
	static const char *const settings[][2] = {
		{ "mirror", "https://updates.example.com/av-updates" },
		{ "mirror", "file:///srv/offline-mirror/av-updates" },
		{ "trusted_key", "/etc/peercache/av-2025.pub" },
		{ "trusted_key", "/etc/peercache/av-2026.pub" },
		{ "repository", "av-updates" },
		{ "cache_dir", "/var/cache/peercache/av-updates" },
		{ "control_socket", "/run/peercache/av.sock" },
		{ "proxy", "http://user:secret@proxy.example:3128" },
		{ "ca_file", "/etc/ssl/certs/corp-ca.pem" },
		{ "poll_interval", "1h" },
		{ "fetch_timeout", "45s" },
		{ "connect_timeout", "3s" },
		{ "low_speed_time", "20s" },
		{ "max_fetches", "16" },
		{ "prefetch", "8" },
		{ "read_ahead", "960K" },
		{ "log_level", "debug" },
		{ "discovery", "off" },
		{ "discovery_port", "9082" },
		{ "interfaces", "eth0, eth1" },
		{ "discovery_group", "239.255.80.82" },
		{ "peers", "10.0.0.2:8082, 10.0.0.3" },
		{ "peer_allow", "10.20.0.0/16, 192.168.7.0/24" },
		{ "fleet_key_file", "/etc/peercache/fleet.key" },
		{ "discovery_timeout", "2s" },
		{ "peer_server", "off" },
		{ "peer_port", "9081" },
		{ "max_uploads", "200" },
		{ "peer_ban_time", "1h" },
		{ "passthrough", "off" },
		{ "mirror_serve", "off" }, /* on needs peer_server */
		{ "mirror_allow", "10.40.0.0/16, 10.41.0.0/16" },
		{ "quota", "5G" },
		{ "max_age", "2w" },
		{ "purge_interval", "15m" },
		{ "metrics_listen", "127.0.0.1:9464" },
		{ "control_group", "peercache" },
	};

	for (size_t i = 0; i < N(settings); i++)
		set_ok(cfg, settings[i][0], settings[i][1]);
}

/* Prints @cfg, loads the text into a fresh configuration, and checks that
 * it prints the same and holds the same values. */
static void check_round_trip(struct pc_config *cfg)
{
	char err[512] = "", *first, *second, *dir, *path;
	struct pc_config again;

	assert_ok(pc_config_finish(cfg, err, sizeof(err)), err);
	first = printed(cfg);
	path = config_file(first, &dir);
	defaults(&again);
	assert_ok(pc_config_load_file(&again, path, true, err, sizeof(err)),
		  err);
	assert_ok(pc_config_finish(&again, err, sizeof(err)), err);
	second = printed(&again);
	assert_string_equal(second, first);

	assert_int_equal(again.nmirrors, cfg->nmirrors);
	for (size_t i = 0; i < cfg->nmirrors; i++)
		assert_string_equal(again.mirrors[i], cfg->mirrors[i]);
	assert_int_equal(again.ntrusted_keys, cfg->ntrusted_keys);
	assert_string_equal(again.proxy, cfg->proxy);
	assert_string_equal(again.peer_allow, cfg->peer_allow);
	assert_int_equal(again.poll_interval, cfg->poll_interval);
	assert_int_equal(again.discovery_timeout, cfg->discovery_timeout);
	assert_int_equal(again.quota, cfg->quota);
	assert_int_equal(again.discovery, cfg->discovery);
	assert_int_equal(again.peer_server, cfg->peer_server);
	assert_int_equal(again.passthrough, cfg->passthrough);
	assert_int_equal(again.log_level, cfg->log_level);

	free(first);
	free(second);
	free(path);
	pc_test_rmtree(dir);
	pc_config_free(&again);
}

static void test_config_print_load_round_trip_of_defaults(void **state)
{
	struct pc_config cfg;

	(void)state;
	defaults(&cfg);
	set_ok(&cfg, "mirror", "http://mirror.example/repo");
	set_ok(&cfg, "trusted_key", "/etc/peercache/repo.pub");
	check_round_trip(&cfg);
	pc_config_free(&cfg);
}

static void test_config_print_load_round_trip_of_every_key(void **state)
{
	struct pc_config cfg;

	(void)state;
	defaults(&cfg);
	set_everything(&cfg);
	check_round_trip(&cfg);
	pc_config_free(&cfg);
}

/* The printout has one "key = value" line per key (two per list here), so
 * a key config.c gains and this file does not know shows up here. */
static void test_config_print_names_every_key(void **state)
{
	struct pc_config cfg;
	char err[256] = "", *text, *line, *save = NULL;
	size_t lines = 0;

	(void)state;
	defaults(&cfg);
	set_everything(&cfg);
	assert_ok(pc_config_finish(&cfg, err, sizeof(err)), err);
	text = printed(&cfg);
	for (size_t i = 0; i < N(key_names); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "\n%s = ", key_names[i]);
		if (!strstr(text, needle)) {
			print_error("key '%s' is not printed:\n%s\n",
				    key_names[i], text);
			fail();
		}
	}
	assert_true(strncmp(text, "[peercache]\n", 12) == 0);
	for (line = strtok_r(text + 12, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		bool known = false;

		for (size_t i = 0; i < N(key_names); i++) {
			size_t len = strlen(key_names[i]);

			known |= strncmp(line, key_names[i], len) == 0 &&
				 strncmp(line + len, " = ", 3) == 0;
		}
		if (!known) {
			print_error("printed line '%s' is not a key this test "
				    "knows: add the key to key_names[], its "
				    "default and its type's tests\n",
				    line);
			fail();
		}
		lines++;
	}
	assert_int_equal(lines, N(key_names) + 2); /* two lists of two */
	free(text);
	pc_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults_are_the_documented_ones),
		cmocka_unit_test(
			test_config_durations_take_suffixes_and_refuse_zero),
		cmocka_unit_test(
			test_config_millis_take_ms_or_seconds_within_bounds),
		cmocka_unit_test(test_config_sizes_take_binary_units),
		cmocka_unit_test(test_config_counts_stay_within_their_bounds),
		cmocka_unit_test(test_config_on_off_takes_the_usual_words),
		cmocka_unit_test(test_config_log_level_is_one_of_four),
		cmocka_unit_test(test_config_strings_take_the_last_value),
		cmocka_unit_test(test_config_lists_keep_order_up_to_capacity),
		cmocka_unit_test(test_config_unknown_key_is_named),
		cmocka_unit_test(
			test_config_file_refuses_unknown_keys_and_sections),
		cmocka_unit_test(
			test_config_missing_file_is_an_error_only_if_named),
		cmocka_unit_test(test_config_long_line_is_refused_at_its_line),
		cmocka_unit_test(
			test_config_binary_bytes_are_refused_not_echoed),
		cmocka_unit_test(test_config_file_must_be_regular_and_bounded),
		cmocka_unit_test(test_config_numbers_stay_within_their_bounds),
		cmocka_unit_test(
			test_config_low_speed_time_below_fetch_timeout),
		cmocka_unit_test(test_config_finish_needs_a_mirror_and_a_key),
		cmocka_unit_test(test_config_print_load_round_trip_of_defaults),
		cmocka_unit_test(
			test_config_print_load_round_trip_of_every_key),
		cmocka_unit_test(test_config_print_names_every_key),
		cmocka_unit_test(test_config_mirror_serve_needs_mirror_allow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
