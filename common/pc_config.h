/*
 * pc_config.h - the daemon's configuration: one INI file
 * (/etc/peercache/peercache.conf, host-wide keys in a [peercache] section
 * or at the top) and "-o key=value" overrides; the command line wins.
 * Every key has a documented default (systemd/peercache.conf.example) and
 * a bad value or an unknown key is refused with a message naming it.
 *
 * The repositories served come in one of two forms:
 *  - sections: one [repository NAME] section per repository, with its
 *    mount_point, mirror and trusted_key (repeatable) and optionally
 *    poll_interval; NAME is the name its signed head must carry;
 *  - the compatible form (no section): the top-level mirror, trusted_key
 *    and repository keys describe the one repository, mounted at the
 *    command line's MOUNTPOINT.
 * Mixing the two is refused.  Either way pc_config_finish() leaves the
 * repositories in repos[0 .. nrepos-1], so that the daemon only ever
 * iterates repos[] (the top-level mirrors, trusted_keys and repository
 * fields are the compatible form's raw input).
 */
#ifndef PC_CONFIG_H
#define PC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_log.h"
#include "pc_util.h"

#define PC_CONFIG_MAX_MIRRORS 16
#define PC_CONFIG_MAX_KEYS 16
/* [repository NAME] sections in one configuration, at most. */
#define PC_CONFIG_MAX_REPOS 16
/* A repository name: pc_repo_name_valid_len (pc_util.h), the rule of a
 * signed head's name too. */
#define PC_CONFIG_REPO_NAME_MAX PC_REPO_NAME_MAX
#define PC_DEFAULT_CONFIG "/etc/peercache/peercache.conf"
#define PC_DEFAULT_CACHE_DIR "/var/cache/peercache"
/* A configuration file is read whole: at most this many bytes. */
#define PC_CONFIG_FILE_MAX (1024 * 1024)

/* The smallest quota accepted: what one read needs in the cache, room for
 * four chunks of the largest size (PC_CHUNK_MAX, 4 MiB, pc_format.h). */
#define PC_CONFIG_QUOTA_MIN (16u * 1024 * 1024)

/* One repository the daemon serves (owned strings). */
struct pc_repo_config {
	char *name;	   /* the name its signed head must carry; "" (the
			      compatible form, repository unset): the name
			      of the first head accepted */
	char *mount_point; /* the section's; NULL in the compatible form:
			      the command line's MOUNTPOINT */
	char *mirrors[PC_CONFIG_MAX_MIRRORS]; /* in order */
	size_t nmirrors;
	char *trusted_keys[PC_CONFIG_MAX_KEYS];
	size_t ntrusted_keys;
	uint64_t poll_interval; /* seconds: the section's, else the
				   host-wide poll_interval */
	uint64_t keys_set;	/* which keys the section set (config.c) */
	int line;		/* of its [repository NAME] line; 0 in the
				   compatible form */
};

struct pc_config {
	/* The repositories, filled by pc_config_finish (the sections, or
	 * repos[0] from the top-level keys of the compatible form). */
	struct pc_repo_config repos[PC_CONFIG_MAX_REPOS];
	size_t nrepos;
	bool repo_sections; /* the file has [repository NAME] sections */

	/* The compatible form's repository: read repos[] instead. */
	char *mirrors[PC_CONFIG_MAX_MIRRORS]; /* "mirror", repeatable, in order */
	size_t nmirrors;
	char *trusted_keys[PC_CONFIG_MAX_KEYS]; /* "trusted_key", repeatable */
	size_t ntrusted_keys;
	char *repository; /* "repository": expected head name; empty =
				      take the name of the first head accepted */
	/* Host-wide from here on (poll_interval: the default of each
	 * repository). */
	char *cache_dir;	  /* default /var/cache/peercache */
	char *control_socket;	  /* default CACHE_DIR/control.sock */
	char *proxy;		  /* libcurl proxy URL, "" = none/environment */
	char *ca_file;		  /* CA bundle for https mirrors */
	uint64_t poll_interval;	  /* seconds, default 600 */
	uint64_t fetch_timeout;	  /* seconds a read may wait, default 30 */
	uint64_t connect_timeout; /* seconds, default 5 */
	uint64_t low_speed_time;  /* abort a transfer slower than 1 KiB/s for
				      this many seconds, default 10 */
	uint64_t max_fetches;	  /* parallel chunk downloads, default 8 */
	uint64_t prefetch;	  /* chunks read ahead for sequential readers,
				      default 16 */
	uint64_t read_ahead;	  /* the mount's read-ahead (the kernel's,
				      read_ahead_kb of its bdi), bytes,
				      default 3840K */
	enum pc_log_level log_level; /* error|warn|info|debug, default info */

	/* LAN peers (docs/PROTOCOL.md). */
	bool discovery;		    /* UDP discovery, default on */
	uint64_t discovery_port;    /* default 8082 */
	char *interfaces;	    /* "eth0, eth1"; "" = every non-loopback
					interface */
	char *discovery_group;	    /* IPv4 and/or link-local IPv6 multicast
					group; "" = none */
	char *peers;		    /* static "host[:port], [v6]:port, ...";
					"" = none */
	char *peer_allow;	    /* IPv4/IPv6 CIDR list allowed besides
					the local subnets; "" = none */
	char *fleet_key_file;	    /* HMAC key for discovery; "" = none */
	uint64_t discovery_timeout; /* milliseconds, default 50 */
	bool peer_server;	    /* serve chunks to peers, default on */
	uint64_t peer_port;	    /* default 8081 */
	uint64_t max_uploads;	    /* chunk bodies sent at once, default 50 */
	uint64_t peer_ban_time;	    /* seconds, default 600 */
	bool passthrough;	    /* files of one chunk read by the kernel
				       from the chunk file, default on */
	bool mirror_serve;	    /* serve /head and /chunks/ to other sites
			       (net/mirror_serve.c), default off */
	char *mirror_allow;	    /* CIDR list of who may use it; "" = nobody
			       (mirror_serve = on refuses that) */

	/* Cache size and purge. */
	uint64_t quota;		 /* bytes, default 512 MiB, at least
				    PC_CONFIG_QUOTA_MIN */
	uint64_t max_age;	 /* seconds since last access, default 30 d */
	uint64_t purge_interval; /* seconds, default 1 h */

	/* Operating it. */
	char *metrics_listen; /* "host:port" or "[v6]:port" of the
				 Prometheus endpoint; "" = off */
	char *control_group;  /* group also allowed on the control socket;
				 "" = root only */

	uint64_t keys_set; /* which keys the file or -o set (config.c's
			      business: see pc_config_is_set) */
};

/* Fills @cfg with the defaults (owned strings). */
int pc_config_defaults(struct pc_config *cfg);
/*
 * Reads an INI file into @cfg.  A missing file is an error only if
 * @must_exist.  The file must be a regular file (or /dev/null) of at most
 * PC_CONFIG_FILE_MAX bytes, of text lines that fit inih's line buffer.
 * -EINVAL (-EISDIR, -EFBIG, ...) with a message naming the file, line and
 * key.
 */
int pc_config_load_file(struct pc_config *cfg, const char *path,
			bool must_exist, char *err, size_t errlen);
/* Applies one "key=value" (from -o).  Repeatable keys append.  Numbers
 * are refused outside their key's bounds (documented in the sample
 * config); values quoted in @err are escaped for a terminal. */
int pc_config_set(struct pc_config *cfg, const char *key, const char *value,
		  char *err, size_t errlen);
/* @key was set by the file or -o (not left at its default). */
bool pc_config_is_set(const struct pc_config *cfg, const char *key);
/* Derived defaults (control_socket, repos[]) and cross-key checks (at
 * least one mirror and one trusted key per repository; no top-level
 * mirror, trusted_key or repository beside [repository] sections;
 * low_speed_time shorter than fetch_timeout: a default one is lowered to
 * half of it, an explicit one refused).  Call once after loading. */
int pc_config_finish(struct pc_config *cfg, char *err, size_t errlen);
/* repos[] made from what is set, without the checks of
 * pc_config_finish (which calls it): the compatible form's repos[0]
 * (re)made from the top-level keys, and each section's poll_interval
 * defaulted to the host-wide one.  For tools and tests that build a
 * configuration with pc_config_set and read repos[].  0 or -ENOMEM. */
int pc_config_resolve_repos(struct pc_config *cfg);
/* The effective configuration as INI text on @out: [peercache], then
 * one [repository NAME] section per repository of the section form.
 * Loaded again, it is the same configuration. */
void pc_config_print(const struct pc_config *cfg, void *out /* FILE * */);
void pc_config_free(struct pc_config *cfg);

/* One key of the table, for generated documentation and tests (man/). */
struct pc_config_key_info {
	const char *name;
	const char *fallback; /* the default as text; NULL: none */
	const char *kind;     /* "text", "list" (repeatable), "duration",
				 "count", "level", "on/off", "milliseconds",
				 "size" */
	const char *scope;    /* where it may be given: "host" (top level
				 or [peercache] only), "repository" (only in
				 a [repository NAME] section), "both" (in a
				 section, or at the top level: there the
				 compatible form's, or for poll_interval the
				 default of every section), "single" (top
				 level, compatible form only) */
};
/* The key number @i (0, 1, ...) in the table's order; false past the
 * last.  Borrowed, static strings. */
bool pc_config_key_info(size_t i, struct pc_config_key_info *info);

#endif /* PC_CONFIG_H */
