/*
 * offline.c - `status` and `stats` while the daemon is down: the cache
 * index is read directly (pc_store_open_readonly: no lock taken, nothing
 * written), so an administrator still sees which version the node holds
 * and what its cache did.  The answer has the daemon's JSON shape, with
 * "status":"offline" and "daemon":"offline", and says why the daemon did
 * not answer.  What only the daemon knows (the last poll, its quota
 * unless -c names the configuration) is left out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "pc_store.h"

static void write_version(struct pc_json *w, struct pc_store *store)
{
	struct pc_store_version v;
	bool have = pc_store_current(store, &v) == 0;

	pc_json_str(w, "repository", have ? v.name : "");
	pc_json_int(w, "version", have ? (int64_t)v.version : 0);
	pc_json_int(w, "published", have ? v.created : 0);
	pc_json_int(w, "expires", have ? v.expires : 0);
	pc_json_int(w, "accepted", have ? v.accepted : 0);
	pc_json_int(w, "head_age", have ? (int64_t)time(NULL) - v.created : 0);
}

static void write_status(struct pc_json *w, struct pc_store *store,
			 const char *reason, const struct pc_config *cfg)
{
	uint64_t held = pc_store_held_version(store);
	struct pc_store_version prev;

	write_version(w, store);
	pc_json_str(w, "status", "offline");
	pc_json_str(w, "reason", reason);
	pc_json_bool(w, "held", held != 0);
	pc_json_int(w, "held_version", (int64_t)held);
	pc_json_int(w, "available_version",
		    held && pc_store_previous(store, &prev) == 0 &&
				    prev.version > held
			    ? (int64_t)prev.version
			    : 0);
	pc_json_int(w, "highest_version",
		    (int64_t)pc_store_highest_version(store));
	if (cfg)
		pc_json_str_array(w, "mirrors", cfg->repos[0].mirrors,
				  cfg->repos[0].nmirrors);
	pc_json_str(w, "daemon", "offline");
}

static void write_stats(struct pc_json *w, struct pc_store *store,
			const char *reason, const struct pc_config *cfg)
{
	struct pc_store_usage usage = { 0, 0 };
	struct pc_store_version v;

	pc_json_str(w, "status", "offline");
	pc_json_int(w, "version",
		    pc_store_current(store, &v) == 0 ? (int64_t)v.version : 0);
	pc_store_usage(store, &usage);
	pc_json_int(w, "cache_bytes", (int64_t)usage.bytes);
	pc_json_int(w, "chunks", (int64_t)usage.chunks);
	for (int c = 0; c < PC_CTR_COUNT; c++)
		pc_json_int(
			w, pc_counter_name((enum pc_counter)c),
			(int64_t)pc_store_counter(store, (enum pc_counter)c));
	if (cfg) {
		pc_json_int(w, "quota", (int64_t)cfg->quota);
		pc_json_int(w, "max_age", (int64_t)cfg->max_age);
	}
	pc_json_str(w, "daemon", "offline");
	pc_json_str(w, "reason", reason);
}

/* Writes the answer into a memory buffer, so that it goes through the
 * same reader and printer as the daemon's. */
static char *answer(const char *command, struct pc_store *store,
		    const char *reason, const struct pc_config *cfg)
{
	struct pc_json w = { 0 };
	size_t len;

	if (strcmp(command, "status") == 0)
		write_status(&w, store, reason, cfg);
	else
		write_stats(&w, store, reason, cfg);
	return pc_json_finish(&w, &len);
}

int ctl_offline(const struct ctl *ctl, const char *command, int why)
{
	struct pc_config cfg, *have_cfg = NULL;
	struct pc_store *store = NULL, *repo;
	bool own, named;
	struct json_object obj;
	char err[512], reason[600];
	char *text;
	int rc;

	snprintf(reason, sizeof(reason),
		 "the daemon does not answer on %s (%s)", ctl->socket_path,
		 strerror(-why));
	/* The configuration (the instance's if none was named) for which
	 * trees the daemon serves; the quota and mirrors only if one was
	 * named. */
	if ((ctl->config_path || ctl->noverrides || ctl->instance_config) &&
	    ctl_load_config(ctl, ctl->instance_config, &cfg, err,
			    sizeof(err)) == 0)
		have_cfg = &cfg;
	named = ctl->config_path || ctl->noverrides;
	rc = pc_store_open_readonly(ctl->cache_dir, &store, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr,
			"peercachectl: %s, and the cache index cannot be "
			"read: %s\n",
			reason, err);
		rc = EXIT_FAILED;
		goto out;
	}
	rc = ctl_repo_store(ctl, have_cfg, store, &repo, &own, err,
			    sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "peercachectl: %s; repository %s: %s\n", reason,
			have_cfg ? have_cfg->repos[0].name : ctl->repository,
			err);
		pc_store_close(store);
		rc = EXIT_FAILED;
		goto out;
	}
	text = answer(command, repo, reason, named ? have_cfg : NULL);
	if (own)
		pc_store_close(repo);
	pc_store_close(store);
	if (!text || json_parse_object(text, &obj) < 0) {
		fprintf(stderr, "peercachectl: out of memory\n");
		free(text);
		rc = EXIT_FAILED;
		goto out;
	}
	if (ctl->json)
		fputs(text, stdout);
	if (strcmp(command, "status") == 0)
		rc = ctl->json ? ctl_status_exit(&obj) : ctl_print_status(&obj);
	else
		rc = ctl->json ? EXIT_OK : ctl_print_stats(&obj);
	json_free(&obj);
	free(text);
out:
	if (have_cfg)
		pc_config_free(have_cfg);
	return rc;
}
