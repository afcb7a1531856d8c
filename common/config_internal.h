/*
 * config_internal.h - what config.c (the keys and their values) and
 * config_file.c (the file, read and printed) share: the table of keys.
 */
#ifndef PC_CONFIG_INTERNAL_H
#define PC_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"

enum key_type {
	KEY_STRING,
	KEY_LIST,
	KEY_DURATION,
	KEY_COUNT,
	KEY_LOGLEVEL,
	KEY_BOOL,
	KEY_MILLIS,
	KEY_SIZE
};

/* Where a key may be given (pc_config_key_info.scope). */
enum key_scope {
	SCOPE_HOST,   /* top level or [peercache] */
	SCOPE_REPO,   /* only in a [repository NAME] section */
	SCOPE_BOTH,   /* either (top level: the compatible form's, or the
			 default of every section) */
	SCOPE_SINGLE, /* top level, compatible form only: repository */
};

struct key {
	const char *name;
	enum key_type type;
	size_t offset;	      /* of the field in struct pc_config; NO_FIELD
				 for SCOPE_REPO */
	size_t count_offset;  /* KEY_LIST: of the size_t count */
	uint64_t min;	      /* numbers: the lowest value (seconds, ms,
				 bytes); KEY_LIST: 0 */
	uint64_t max;	      /* numbers: the highest; KEY_LIST: capacity */
	const char *fallback; /* default, as text */
	enum key_scope scope;
	size_t repo_offset;	  /* SCOPE_REPO, SCOPE_BOTH: of the field in
				     struct pc_repo_config */
	size_t repo_count_offset; /* and of a KEY_LIST's count */
};

#define FIELD(f) offsetof(struct pc_config, f)
/* The bit of @k in keys_set (struct pc_config, struct pc_repo_config). */
#define KEY_BIT(k) (1ull << ((k)-config_keys))

/* Every key, in the order of --print-config and the man page. */
extern const struct key config_keys[];
extern const size_t config_nkeys;
extern const char *const config_level_names[4];

/* The key named @name, or NULL. */
const struct key *config_find_key(const char *name);
/* @value as it may be shown on a terminal: printable ASCII as it is,
 * any other byte as \xNN; at most what fits in @buf.  Returns @buf. */
const char *config_shown(const char *value, char *buf, size_t len);
/* A key of a [repository NAME] section into @repo: one of the section's
 * keys (SCOPE_REPO, SCOPE_BOTH), or refused saying where it belongs. */
int config_set_repo_key(struct pc_repo_config *repo, const struct key *k,
			const char *value, char *err, size_t errlen);

#endif /* PC_CONFIG_INTERNAL_H */
