/*
 * test_config_repos.c - [repository NAME] sections of the configuration
 * (common/config.c, issue 14 stage 2): a section is read into repos[]
 * with its mount_point, mirrors, keys and poll_interval (the host-wide one
 * by default); every host-wide key of the table is refused in a section
 * with the file, the line, the key and where to put it; a section lacking
 * a required key, a bad or repeated name, a 17th section, an unknown
 * section and top-level mirror/trusted_key/repository beside sections are
 * refused, each with its message; the compatible form (no section) fills
 * repos[0] from the top-level keys and prints as before; and what
 * --print-config prints of sections loads back to the same configuration.
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
#include "pc_format.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A section that has everything it needs, after @extra lines. */
#define SECTION(name, mnt, extra)                        \
	"[repository " name "]\nmount_point = " mnt "\n" \
	"mirror = https://updates.example/" name "\n"    \
	"trusted_key = /etc/peercache/" name ".pub\n" extra

/* ---- helpers -------------------------------------------------------------- */

/* @text loaded as a file into @cfg (defaults first); the result, the
 * message in @err, the file's path in *@path_out if asked (free it). */
static int load(struct pc_config *cfg, const char *text, char *err,
		size_t errlen, char **path_out)
{
	char *dir = pc_test_tmpdir();
	char *path = pc_test_path(dir, "peercache.conf");
	int rc;

	assert_ok(pc_config_defaults(cfg), NULL);
	pc_test_write_file(path, text, strlen(text));
	rc = pc_config_load_file(cfg, path, true, err, errlen);
	if (path_out)
		*path_out = strdup(path);
	free(path);
	pc_test_rmtree(dir);
	return rc;
}

/* @text loads and finishes; fails the test otherwise. */
static void load_ok(struct pc_config *cfg, const char *text)
{
	char err[512] = "";

	assert_ok(load(cfg, text, err, sizeof(err), NULL), err);
	assert_ok(pc_config_finish(cfg, err, sizeof(err)), err);
}

/* @text is refused by the loader with a message holding PATH:@line:
 * and @want. */
#define load_bad(text, line, want) \
	load_bad_at((text), (line), (want), __FILE__, __LINE__)
static void load_bad_at(const char *text, int line, const char *want,
			const char *file, int at)
{
	char err[512] = "", where[600], *path = NULL;
	struct pc_config cfg;
	int rc = load(&cfg, text, err, sizeof(err), &path);

	pc_test_check_error(rc, -EINVAL, err, want, file, at);
	snprintf(where, sizeof(where), "%s:%d: ", path, line);
	pc_test_check_message(err, where, file, at);
	free(path);
	pc_config_free(&cfg);
}

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

static void assert_repo_equal(const struct pc_repo_config *a,
			      const struct pc_repo_config *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->mount_point, b->mount_point);
	assert_int_equal(a->nmirrors, b->nmirrors);
	for (size_t i = 0; i < a->nmirrors; i++)
		assert_string_equal(a->mirrors[i], b->mirrors[i]);
	assert_int_equal(a->ntrusted_keys, b->ntrusted_keys);
	for (size_t i = 0; i < a->ntrusted_keys; i++)
		assert_string_equal(a->trusted_keys[i], b->trusted_keys[i]);
	assert_int_equal(a->poll_interval, b->poll_interval);
}

/* ---- reading sections ------------------------------------------------------ */

static void test_config_repos_section_is_read(void **state)
{
	struct pc_config cfg;
	const struct pc_repo_config *r;

	(void)state;
	load_ok(&cfg, "[peercache]\ncache_dir = /var/cache/pc\n"
		      "poll_interval = 20m\n\n"
		      "[repository av-defs]\n"
		      "mount_point = /srv/peercache/av-defs\n"
		      "mirror = https://a.example/av-defs\n"
		      "mirror = file:///srv/offline/av-defs\n"
		      "trusted_key = /etc/peercache/old.pub\n"
		      "trusted_key = /etc/peercache/new.pub\n");
	assert_true(cfg.repo_sections);
	assert_int_equal(cfg.nrepos, 1);
	r = &cfg.repos[0];
	assert_string_equal(r->name, "av-defs");
	assert_string_equal(r->mount_point, "/srv/peercache/av-defs");
	assert_int_equal(r->nmirrors, 2);
	assert_string_equal(r->mirrors[0], "https://a.example/av-defs");
	assert_string_equal(r->mirrors[1], "file:///srv/offline/av-defs");
	assert_int_equal(r->ntrusted_keys, 2);
	assert_string_equal(r->trusted_keys[1], "/etc/peercache/new.pub");
	/* The host-wide poll_interval is the section's default. */
	assert_int_equal(r->poll_interval, 20 * 60);
	/* Nothing leaks to the top level. */
	assert_int_equal(cfg.nmirrors, 0);
	assert_int_equal(cfg.ntrusted_keys, 0);
	assert_string_equal(cfg.cache_dir, "/var/cache/pc");
	pc_config_free(&cfg);

	/* Its own poll_interval; headers with spaces, a comment, a host
	 * section after the repositories; names of every allowed kind. */
	load_ok(&cfg, "[repository   A.b_c-9  ] ; the first\n"
		      "mount_point = /m/1\nmirror = http://x/1\n"
		      "trusted_key = /k1\npoll_interval = 90s\n"
		      "[repository two]\nmount_point = /m/2\n"
		      "mirror = http://x/2\ntrusted_key = /k2\n"
		      "[peercache]\npoll_interval = 2h\nquota = 1G\n");
	assert_int_equal(cfg.nrepos, 2);
	assert_string_equal(cfg.repos[0].name, "A.b_c-9");
	assert_int_equal(cfg.repos[0].poll_interval, 90);
	assert_string_equal(cfg.repos[1].name, "two");
	assert_int_equal(cfg.repos[1].poll_interval, 2 * 3600);
	assert_int_equal(cfg.poll_interval, 2 * 3600);
	assert_int_equal(cfg.quota, 1024ull * 1024 * 1024);
	pc_config_free(&cfg);
}

/* A section's values are checked as the top level's: bounds, capacity. */
static void test_config_repos_section_values_are_checked(void **state)
{
	char text[4096];
	size_t n;

	(void)state;
	load_bad(SECTION("a", "/m", "poll_interval = 5s\n"), 5,
		 "poll_interval: '5s' is out of range");
	load_bad(SECTION("a", "/m", "poll_interval = soon\n"), 5,
		 "poll_interval: 'soon' is not a duration");
	n = (size_t)snprintf(text, sizeof(text), SECTION("a", "/m", ""));
	for (int i = 0; i < PC_CONFIG_MAX_MIRRORS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "mirror = http://m/%d\n", i);
	load_bad(text, 5 + PC_CONFIG_MAX_MIRRORS - 1,
		 "mirror: at most 16 values");
}

/* ---- what a section may not hold --------------------------------------- */

/* Every host-wide key of the table (pc_config_key_info), refused in a
 * section with the line, the key and where it belongs. */
static void test_config_repos_host_keys_are_refused_in_a_section(void **state)
{
	struct pc_config_key_info key;
	size_t host_keys = 0;

	(void)state;
	for (size_t i = 0; pc_config_key_info(i, &key); i++) {
		char text[512], want[256];

		if (strcmp(key.scope, "host") != 0)
			continue;
		snprintf(text, sizeof(text), "[peercache]\n\n%s%s = %s\n",
			 SECTION("av", "/m", ""), key.name,
			 key.fallback && key.fallback[0] ? key.fallback : "x");
		snprintf(want, sizeof(want),
			 "%s: host-wide key, not allowed in [repository av]: "
			 "put it in [peercache]",
			 key.name);
		load_bad(text, 7, want);
		host_keys++;
	}
	assert_true(host_keys >= 25);

	load_bad(SECTION("av", "/m", "repository = av\n"), 5,
		 "repository: not in a section: the repository's name is the "
		 "section's NAME, [repository av]");
	load_bad(SECTION("av", "/m", "mirrors = http://x/\n"), 5,
		 "unknown configuration key 'mirrors'");
}

/* mount_point belongs to sections only: in the file's top level, in
 * [peercache], or from -o. */
static void test_config_repos_mount_point_only_in_a_section(void **state)
{
	struct pc_config cfg;
	char err[512] = "";

	(void)state;
	load_bad("mount_point = /srv/x\n", 1,
		 "mount_point: only in a [repository NAME] section");
	load_bad("[peercache]\nquota = 1G\nmount_point = /srv/x\n", 3,
		 "mount_point: only in a [repository NAME] section");
	/* In a section: an absolute path (the daemon's working directory
	 * is not the file's). */
	load_bad("[repository av]\nmount_point = srv/x\n", 2,
		 "mount_point: 'srv/x' is not an absolute path");
	load_bad("[repository av]\nmount_point =\n", 2,
		 "mount_point: '' is not an absolute path");
	assert_ok(pc_config_defaults(&cfg), NULL);
	assert_error(
		pc_config_set(&cfg, "mount_point", "/srv/x", err, sizeof(err)),
		-EINVAL, err, "without sections, the mount point is");
	assert_false(pc_config_is_set(&cfg, "mount_point"));
	pc_config_free(&cfg);
}

static void test_config_repos_required_keys(void **state)
{
	(void)state;
	load_bad("quota = 1G\n[repository av]\nmirror = http://x/\n"
		 "trusted_key = /k\n",
		 2,
		 "[repository av] has no mount_point: each section needs "
		 "mount_point, mirror and trusted_key");
	load_bad("[repository av]\nmount_point = /m\ntrusted_key = /k\n", 1,
		 "[repository av] has no mirror");
	load_bad(SECTION("ok", "/m1", "") "\n[repository av]\n"
					  "mount_point = /m\nmirror = "
					  "http://x/\n",
		 6, "[repository av] has no trusted_key");
	/* A section without any key at all is still a section. */
	load_bad(SECTION("ok", "/m1", "") "[repository empty]\n", 5,
		 "[repository empty] has no mount_point");
}

/* ---- names, duplicates, how many --------------------------------------- */

static void test_config_repos_names_follow_the_head_rule(void **state)
{
	static const char *const good[] = { "a", "av-defs", "A.b_c-9", "x.",
					    "0" };
	static const char *const bad[] = { ".hidden", "a b",	     "a/b",
					   "a:b",     "caf\xc3\xa9", "a*" };
	char name[80], text[512];

	(void)state;
	for (size_t i = 0; i < N(good); i++) {
		struct pc_config cfg;

		snprintf(text, sizeof(text),
			 "[repository %s]\nmount_point = /m\n"
			 "mirror = http://x/\ntrusted_key = /k\n",
			 good[i]);
		load_ok(&cfg, text);
		assert_string_equal(cfg.repos[0].name, good[i]);
		assert_true(pc_repo_name_valid(good[i]));
		pc_config_free(&cfg);
	}
	for (size_t i = 0; i < N(bad); i++) {
		snprintf(text, sizeof(text), "quota = 1G\n[repository %s]\n",
			 bad[i]);
		load_bad(text, 2,
			 "a repository name is 1 to 64 characters of A-Z a-z "
			 "0-9 . _ - and does not start with '.'");
		assert_false(pc_repo_name_valid(bad[i]));
	}
	/* 64 characters, and 65. */
	memset(name, 'n', 65);
	name[64] = '\0';
	snprintf(text, sizeof(text), SECTION("%s", "/m", ""), name, name, name);
	{
		struct pc_config cfg;

		load_ok(&cfg, text);
		assert_string_equal(cfg.repos[0].name, name);
		pc_config_free(&cfg);
	}
	name[64] = 'n';
	name[65] = '\0';
	snprintf(text, sizeof(text), "[repository %s]\n", name);
	load_bad(text, 1, "a repository name is 1 to 64 characters");
	assert_false(pc_repo_name_valid(name));
	load_bad("[repository]\n", 1, "[repository] needs a name");
	load_bad("[repository   ]\n", 1, "[repository] needs a name");
}

static void test_config_repos_duplicate_section_is_refused(void **state)
{
	(void)state;
	load_bad(SECTION("av", "/m1", "") "\n" SECTION("other", "/m2", "") "\n["
									   "rep"
									   "osi"
									   "tor"
									   "y "
									   "av]"
									   "\n",
		 11,
		 "[repository av] again (first at line 1): one section "
		 "per repository");
}

static void test_config_repos_at_most_16(void **state)
{
	char text[8192], name[16];
	struct pc_config cfg;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < PC_CONFIG_MAX_REPOS; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[repository %s]\nmount_point = /m/%s\n"
				      "mirror = http://x/%s\n"
				      "trusted_key = /k\n",
				      name, name, name);
	}
	load_ok(&cfg, text);
	assert_int_equal(cfg.nrepos, PC_CONFIG_MAX_REPOS);
	assert_string_equal(cfg.repos[15].name, "r15");
	pc_config_free(&cfg);
	snprintf(text + n, sizeof(text) - n, "[repository one-more]\n");
	load_bad(text, 4 * PC_CONFIG_MAX_REPOS + 1,
		 "[repository one-more]: at most 16 repositories in one "
		 "configuration");
}

static void test_config_repos_unknown_section_at_its_line(void **state)
{
	(void)state;
	/* Refused at the header, even with no key under it. */
	load_bad("quota = 1G\n\n[mirrors]\n", 3,
		 "unknown section [mirrors] (a section is peercache or "
		 "repository NAME)");
	load_bad("[Repository av]\nmirror = http://x/\n", 1,
		 "unknown section [Repository av]");
	load_bad("[repositoryav]\n", 1, "unknown section [repositoryav]");
}

/* ---- the two forms do not mix ---------------------------------------------- */

static void test_config_repos_top_level_repository_keys_refused(void **state)
{
	struct pc_config cfg;
	char err[512] = "";

	(void)state;
	load_bad("mirror = http://x/\n\n" SECTION("av", "/m", ""), 1,
		 "mirror at the top level, but the file has [repository "
		 "NAME] sections (the first at line 3)");
	load_bad(SECTION("av", "/m", "") "[peercache]\ntrusted_key = /k\n", 6,
		 "trusted_key at the top level, but the file has [repository "
		 "NAME] sections (the first at line 1)");
	load_bad("[peercache]\nrepository = av\n" SECTION("av", "/m", ""), 2,
		 "repository at the top level");

	/* From -o, after the file: pc_config_finish refuses it. */
	assert_ok(load(&cfg, SECTION("av", "/m", ""), err, sizeof(err), NULL),
		  err);
	assert_ok(pc_config_set(&cfg, "mirror", "http://other/", err,
				sizeof(err)),
		  err);
	assert_error(pc_config_finish(&cfg, err, sizeof(err)), -EINVAL, err,
		     "mirror: given at the top level (-o or [peercache]), but "
		     "the configuration has [repository NAME] sections");
	pc_config_free(&cfg);
	/* A host-wide poll_interval is not a repository key. */
	load_ok(&cfg, "poll_interval = 1h\n" SECTION("av", "/m", ""));
	assert_int_equal(cfg.repos[0].poll_interval, 3600);
	pc_config_free(&cfg);
}

/* ---- the compatible form ------------------------------------------------------ */

static void test_config_repos_compatible_form_fills_repos0(void **state)
{
	struct pc_config cfg;
	char *text;

	(void)state;
	load_ok(&cfg, "mirror = http://a/\nmirror = http://b/\n"
		      "trusted_key = /k.pub\nrepository = av\n"
		      "poll_interval = 15m\n");
	assert_false(cfg.repo_sections);
	assert_int_equal(cfg.nrepos, 1);
	assert_string_equal(cfg.repos[0].name, "av");
	assert_null(cfg.repos[0].mount_point);
	assert_int_equal(cfg.repos[0].nmirrors, 2);
	assert_string_equal(cfg.repos[0].mirrors[1], "http://b/");
	assert_int_equal(cfg.repos[0].ntrusted_keys, 1);
	assert_string_equal(cfg.repos[0].trusted_keys[0], "/k.pub");
	assert_int_equal(cfg.repos[0].poll_interval, 15 * 60);
	/* Copies: the top level keeps its own. */
	assert_ptr_not_equal(cfg.repos[0].mirrors[0], cfg.mirrors[0]);
	/* Printed as before: one [peercache] section, no mount_point. */
	text = printed(&cfg);
	assert_null(strstr(text, "[repository"));
	assert_null(strstr(text, "mount_point"));
	assert_non_null(strstr(text, "\nrepository = av\n"));
	assert_non_null(strstr(text, "\nmirror = http://a/\nmirror = "
				     "http://b/\ntrusted_key = /k.pub\n"));
	free(text);
	pc_config_free(&cfg);

	/* No repository: "" (the first head's name). */
	load_ok(&cfg, "mirror = http://a/\ntrusted_key = /k.pub\n");
	assert_string_equal(cfg.repos[0].name, "");
	pc_config_free(&cfg);
}

/* A tool or test that sets keys one by one gets repos[0] on demand, as
 * often as it changes them. */
static void test_config_repos_resolve_follows_the_top_level(void **state)
{
	struct pc_config cfg;
	char err[256] = "";

	(void)state;
	assert_ok(pc_config_defaults(&cfg), NULL);
	assert_ok(pc_config_set(&cfg, "mirror", "http://a/", err, sizeof(err)),
		  err);
	assert_ok(pc_config_resolve_repos(&cfg), NULL);
	assert_int_equal(cfg.repos[0].nmirrors, 1);
	assert_ok(pc_config_set(&cfg, "mirror", "http://b/", err, sizeof(err)),
		  err);
	assert_ok(pc_config_set(&cfg, "poll_interval", "1h", err, sizeof(err)),
		  err);
	assert_ok(pc_config_resolve_repos(&cfg), NULL);
	assert_int_equal(cfg.nrepos, 1);
	assert_int_equal(cfg.repos[0].nmirrors, 2);
	assert_string_equal(cfg.repos[0].mirrors[1], "http://b/");
	assert_int_equal(cfg.repos[0].poll_interval, 3600);
	pc_config_free(&cfg);
}

/* ---- print -> load ------------------------------------------------------------ */

static void check_round_trip(const char *text)
{
	char err[512] = "", *first, *second;
	struct pc_config cfg, again;

	load_ok(&cfg, text);
	first = printed(&cfg);
	load_ok(&again, first);
	second = printed(&again);
	assert_string_equal(second, first);
	assert_int_equal(again.repo_sections, cfg.repo_sections);
	assert_int_equal(again.nrepos, cfg.nrepos);
	for (size_t i = 0; i < cfg.nrepos; i++)
		assert_repo_equal(&again.repos[i], &cfg.repos[i]);
	assert_int_equal(again.poll_interval, cfg.poll_interval);
	assert_int_equal(again.quota, cfg.quota);
	assert_string_equal(again.cache_dir, cfg.cache_dir);
	(void)err;
	free(first);
	free(second);
	pc_config_free(&cfg);
	pc_config_free(&again);
}

static void test_config_repos_print_load_round_trip(void **state)
{
	char *text;
	struct pc_config cfg;

	(void)state;
	check_round_trip("[peercache]\ncache_dir = /var/cache/pc\nquota = 4G\n"
			 "poll_interval = 30m\n"
			 "[repository av-defs]\n"
			 "mount_point = /srv/peercache/av-defs\n"
			 "mirror = https://a.example/av-defs\n"
			 "mirror = file:///srv/offline/av-defs\n"
			 "trusted_key = /etc/peercache/old.pub\n"
			 "trusted_key = /etc/peercache/new.pub\n"
			 "poll_interval = 5m\n"
			 "[repository engine]\n"
			 "mount_point = /srv/peercache/engine\n"
			 "mirror = https://b.example/engine\n"
			 "trusted_key = /etc/peercache/engine.pub\n");
	check_round_trip(SECTION("one", "/srv/one", ""));

	/* The printout: host-wide keys, then each section with its keys,
	 * poll_interval only where the section gave it. */
	load_ok(&cfg, "poll_interval = 30m\n" SECTION("a", "/m/a", "")
			      SECTION("b", "/m/b", "poll_interval = 1h\n"));
	text = printed(&cfg);
	assert_non_null(strstr(text, "\npoll_interval = 1800s\n"));
	assert_non_null(strstr(text, "\n\n[repository a]\nmount_point = /m/a\n"
				     "mirror = https://updates.example/a\n"
				     "trusted_key = /etc/peercache/a.pub\n\n"
				     "[repository b]\nmount_point = /m/b\n"
				     "mirror = https://updates.example/b\n"
				     "trusted_key = /etc/peercache/b.pub\n"
				     "poll_interval = 3600s\n"));
	/* No top-level repository keys, which would be refused. */
	assert_null(strstr(text, "\nrepository ="));
	free(text);
	pc_config_free(&cfg);
}

/* ---- the table --------------------------------------------------------------- */

static void test_config_repos_key_table_scopes(void **state)
{
	static const struct {
		const char *name, *scope;
	} want[] = {
		{ "mount_point", "repository" }, { "mirror", "both" },
		{ "trusted_key", "both" },	 { "poll_interval", "both" },
		{ "repository", "single" },	 { "cache_dir", "host" },
		{ "peer_port", "host" },
	};
	struct pc_config_key_info key;
	size_t found = 0;

	(void)state;
	for (size_t i = 0; pc_config_key_info(i, &key); i++)
		for (size_t j = 0; j < N(want); j++)
			if (strcmp(key.name, want[j].name) == 0) {
				assert_string_equal(key.scope, want[j].scope);
				found++;
			}
	assert_int_equal(found, N(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_repos_section_is_read),
		cmocka_unit_test(test_config_repos_section_values_are_checked),
		cmocka_unit_test(
			test_config_repos_host_keys_are_refused_in_a_section),
		cmocka_unit_test(
			test_config_repos_mount_point_only_in_a_section),
		cmocka_unit_test(test_config_repos_required_keys),
		cmocka_unit_test(test_config_repos_names_follow_the_head_rule),
		cmocka_unit_test(
			test_config_repos_duplicate_section_is_refused),
		cmocka_unit_test(test_config_repos_at_most_16),
		cmocka_unit_test(test_config_repos_unknown_section_at_its_line),
		cmocka_unit_test(
			test_config_repos_top_level_repository_keys_refused),
		cmocka_unit_test(
			test_config_repos_compatible_form_fills_repos0),
		cmocka_unit_test(
			test_config_repos_resolve_follows_the_top_level),
		cmocka_unit_test(test_config_repos_print_load_round_trip),
		cmocka_unit_test(test_config_repos_key_table_scopes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
