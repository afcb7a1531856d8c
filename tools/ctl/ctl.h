/*
 * ctl.h - what the files of peercachectl share: its options, the exit
 * codes scripts rely on (docs/peercachectl.md), the control socket client
 * (ask.c), the printers for people (print.c), the answers made without a
 * daemon (offline.c) and the connectivity test (check.c).
 */
#ifndef PC_CTL_H
#define PC_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "pc_config.h"

enum exit_code {
	EXIT_OK = 0,	 /* done; status: up to date */
	EXIT_FAILED = 1, /* the daemon could not be asked, or refused; status:
			    offline */
	EXIT_USAGE = 2,
	EXIT_STALE = 3,	      /* status: serving an expired version */
	EXIT_NOT_CURRENT = 4, /* status: failing or starting */
	EXIT_PROBLEMS = 5,    /* check: a step failed, but a mirror serves a
				 valid head; verify: bad chunks removed */
	EXIT_NO_MIRROR = 6,   /* check: no mirror serves a valid head */
};

#define CTL_MAX_OVERRIDES 64
/* Where peercache@NAME.service finds NAME.conf and NAME.env. */
#define CTL_CONFIG_DIR "/etc/peercache"

/* The command line; read-only once parsed. */
struct ctl {
	const char *socket_path; /* the control socket */
	bool socket_given;	 /* --socket */
	const char *cache_dir;	 /* --cache-dir, or the default */
	bool cache_dir_given;
	const char *config_path;     /* -c, or NULL */
	const char *instance;	     /* -i NAME, or NULL */
	const char *repository;	     /* -r NAME, or NULL */
	const char *instance_config; /* the configuration of the instance
					found (instances.c), or NULL */
	const char *overrides[CTL_MAX_OVERRIDES]; /* -o KEY=VALUE */
	size_t noverrides;
	bool json;
	/* purge */
	bool purge_all;
	const char *purge_to; /* SIZE as given, or NULL */
	/* prefetch */
	const char *prefetch_path;
};

/* ---- ask.c ------------------------------------------------------------------ */

/*
 * Sends @command and reads the answer until EOF, within @timeout_ms.  0
 * with *@reply (caller frees), or a negative errno: -ENOENT or
 * -ECONNREFUSED when no daemon listens, -EACCES when the socket refuses
 * the caller, -ETIMEDOUT.
 */
int ctl_ask(const char *socket_path, const char *command, int timeout_ms,
	    char **reply);
/* The connect error means that no daemon is there (not: it refused). */
bool ctl_daemon_absent(int rc);
/* The request line of @command ("status", "prefetch PATH", ...) about
 * -r NAME: "repository NAME COMMAND" (docs/CONTROL.md), or @command as it
 * is.  0, or -ENAMETOOLONG: over the socket's 256 bytes. */
int ctl_request_line(const struct ctl *ctl, const char *command, char *out,
		     size_t len);

struct pc_store;
/* The trees the daemon serves for repository NAME, from the cache open
 * as @store (read-only), chosen by the daemon's rule
 * (pc_store_open_served): NAME is @cfg's repos[0] (-r NAME, or the first
 * section), among @cfg's repositories in the file's order; without @cfg,
 * -r NAME alone; without either, @store.  @store itself, or a repository
 * handle (close it before @store; *@own says so).  0 or -errno with @err
 * set. */
int ctl_repo_store(const struct ctl *ctl, const struct pc_config *cfg,
		   struct pc_store *store, struct pc_store **out, bool *own,
		   char *err, size_t errlen);

/* ---- instances.c ------------------------------------------------------------ */

/* A daemon of this host: an instance of peercache@NAME.service, or the
 * daemon of /etc/peercache/peercache.conf (name NULL).  Owned strings. */
struct ctl_instance {
	char *name;
	char *config;	 /* its configuration file */
	char *cache_dir; /* as the daemon has it */
	char *socket;	 /* its control socket */
};

/* Every instance of the host, sorted by name; free with
 * ctl_instances_free().  0 or -ENOMEM. */
int ctl_find_instances(struct ctl_instance **items, size_t *count);
void ctl_instances_free(struct ctl_instance *items, size_t count);
/* The instance NAME ("peercache": the daemon of peercache.conf); -ENOENT
 * if it has neither a configuration nor a cache, -EINVAL for a bad name. */
int ctl_instance_named(const char *name, struct ctl_instance *in);
/* The daemon that runs with @config: peercache@NAME.service for
 * /etc/peercache/NAME.conf (unless only a daemon started by hand with the
 * file answers), else the file's own cache_dir and control_socket. */
int ctl_instance_of_config(const char *config, struct ctl_instance *in);
void ctl_instance_free(struct ctl_instance *in);
/* Its name for people: NAME, or "peercache" for the default. */
const char *ctl_instance_label(const struct ctl_instance *in);

/* ---- config (main.c) --------------------------------------------------------- */

/*
 * The configuration as the daemon would read it: -c (or @fallback_path
 * when no -c was given; NULL: none), then -o overrides.  Not "finished":
 * no mirror or key is required.  With -r NAME, that repository's section
 * comes first in repos[] (what check and offline answers read); -ENOENT
 * if the file has none of that name.  0 or -errno with @err set.
 */
int ctl_load_config(const struct ctl *ctl, const char *fallback_path,
		    struct pc_config *cfg, char *err, size_t errlen);

/* ---- print.c ---------------------------------------------------------------- */

/* "12 s ago", "3 min ago", "never" into @buf. */
const char *ctl_ago(int64_t when, char *buf, size_t len);
/* "2 h 5 min" into @buf. */
const char *ctl_duration(int64_t seconds, char *buf, size_t len);
/* The exit code of a status answer. */
int ctl_status_exit(const struct json_object *o);
/* Prints an answer for a person; returns the exit code. */
int ctl_print_status(const struct json_object *o);
int ctl_print_stats(const struct json_object *o);
int ctl_print_peers(const char *raw);
int ctl_print_refresh(const struct json_object *o);
int ctl_print_restart(const struct json_object *o);
int ctl_print_purge(const struct json_object *o);
int ctl_print_verify(const struct json_object *o);
int ctl_print_prefetch(const struct json_object *o);
int ctl_print_switch(const char *command, const struct json_object *o);

/* ---- offline.c -------------------------------------------------------------- */

/* `status` or `stats` without a daemon (@why: why it did not answer),
 * from the cache index opened read-only.  Returns the exit code. */
int ctl_offline(const struct ctl *ctl, const char *command, int why);

/* ---- check.c ---------------------------------------------------------------- */

int ctl_check(const struct ctl *ctl);

#endif
