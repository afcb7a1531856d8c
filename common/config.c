/*
 * config.c - the daemon's configuration (pc_config.h).
 *
 * One table describes every key: its name, its type and where it lives in
 * struct pc_config.  The INI reader (inih), the -o parser and the printer
 * all walk that table, so a key cannot be accepted by one and unknown to
 * another.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "pc_config.h"
#include "pc_util.h"

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

struct key {
	const char *name;
	enum key_type type;
	size_t offset;	      /* of the field in struct pc_config */
	size_t count_offset;  /* KEY_LIST: of the size_t count */
	size_t max;	      /* KEY_LIST: capacity; KEY_COUNT: upper bound */
	const char *fallback; /* default, as text */
};

#define FIELD(f) offsetof(struct pc_config, f)

static const struct key keys[] = {
	{ "mirror", KEY_LIST, FIELD(mirrors), FIELD(nmirrors),
	  PC_CONFIG_MAX_MIRRORS, NULL },
	{ "trusted_key", KEY_LIST, FIELD(trusted_keys), FIELD(ntrusted_keys),
	  PC_CONFIG_MAX_KEYS, NULL },
	{ "repository", KEY_STRING, FIELD(repository), 0, 0, "" },
	{ "cache_dir", KEY_STRING, FIELD(cache_dir), 0, 0,
	  PC_DEFAULT_CACHE_DIR },
	{ "control_socket", KEY_STRING, FIELD(control_socket), 0, 0, "" },
	{ "proxy", KEY_STRING, FIELD(proxy), 0, 0, "" },
	{ "ca_file", KEY_STRING, FIELD(ca_file), 0, 0, "" },
	{ "poll_interval", KEY_DURATION, FIELD(poll_interval), 0, 0, "10m" },
	{ "fetch_timeout", KEY_DURATION, FIELD(fetch_timeout), 0, 0, "30s" },
	{ "connect_timeout", KEY_DURATION, FIELD(connect_timeout), 0, 0, "5s" },
	{ "low_speed_time", KEY_DURATION, FIELD(low_speed_time), 0, 0, "10s" },
	{ "max_fetches", KEY_COUNT, FIELD(max_fetches), 0, 256, "8" },
	{ "prefetch", KEY_COUNT, FIELD(prefetch), 0, 64, "16" },
	{ "log_level", KEY_LOGLEVEL, FIELD(log_level), 0, 0, "info" },
	{ "discovery", KEY_BOOL, FIELD(discovery), 0, 0, "on" },
	{ "discovery_port", KEY_COUNT, FIELD(discovery_port), 0, 65535,
	  "8082" },
	{ "interfaces", KEY_STRING, FIELD(interfaces), 0, 0, "" },
	{ "discovery_group", KEY_STRING, FIELD(discovery_group), 0, 0, "" },
	{ "peers", KEY_STRING, FIELD(peers), 0, 0, "" },
	{ "peer_allow", KEY_STRING, FIELD(peer_allow), 0, 0, "" },
	{ "fleet_key_file", KEY_STRING, FIELD(fleet_key_file), 0, 0, "" },
	{ "discovery_timeout", KEY_MILLIS, FIELD(discovery_timeout), 0, 10000,
	  "50ms" },
	{ "peer_server", KEY_BOOL, FIELD(peer_server), 0, 0, "on" },
	{ "peer_port", KEY_COUNT, FIELD(peer_port), 0, 65535, "8081" },
	{ "max_uploads", KEY_COUNT, FIELD(max_uploads), 0, 10000, "50" },
	{ "peer_ban_time", KEY_DURATION, FIELD(peer_ban_time), 0, 0, "10m" },
	{ "quota", KEY_SIZE, FIELD(quota), 0, 0, "512M" },
	{ "max_age", KEY_DURATION, FIELD(max_age), 0, 0, "30d" },
	{ "purge_interval", KEY_DURATION, FIELD(purge_interval), 0, 0, "1h" },
	{ "metrics_listen", KEY_STRING, FIELD(metrics_listen), 0, 0, "" },
	{ "control_group", KEY_STRING, FIELD(control_group), 0, 0, "" },
};

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void *field_of(struct pc_config *cfg, size_t offset)
{
	return (char *)cfg + offset;
}

static int set_bool(bool *field, const char *name, const char *value, char *err,
		    size_t errlen)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*field = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*field = false;
			return 0;
		}
	}
	snprintf(err, errlen, "%s: '%s' is not on or off", name, value);
	return -EINVAL;
}

/* "50ms", or a duration in seconds ("2s", "1m"); 1..k->max ms. */
static int set_millis(uint64_t *field, const struct key *k, const char *value,
		      char *err, size_t errlen)
{
	size_t len = strlen(value);
	uint64_t number = 0;
	int rc = -EINVAL;

	if (len > 2 && strcmp(value + len - 2, "ms") == 0) {
		char *end;

		errno = 0;
		number = strtoull(value, &end, 10);
		rc = (errno || end != value + len - 2 || value[0] < '0' ||
		      value[0] > '9')
			     ? -EINVAL
			     : 0;
	} else if (pc_parse_duration(value, &number) == 0 &&
		   number <= k->max / 1000) {
		number *= 1000;
		rc = 0;
	}
	if (rc < 0 || number == 0 || number > k->max) {
		snprintf(err, errlen,
			 "%s: '%s' is not a duration from 1ms to %zums "
			 "(like 50ms, 1s)",
			 k->name, value, k->max);
		return -EINVAL;
	}
	*field = number;
	return 0;
}

static int set_key(struct pc_config *cfg, const struct key *k,
		   const char *value, char *err, size_t errlen)
{
	uint64_t number;
	char *copy;

	switch (k->type) {
	case KEY_STRING:
	case KEY_LIST:
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		if (k->type == KEY_STRING) {
			char **slot = field_of(cfg, k->offset);

			free(*slot);
			*slot = copy;
			return 0;
		} else {
			char **list = field_of(cfg, k->offset);
			size_t *count = field_of(cfg, k->count_offset);

			if (*count == k->max) {
				free(copy);
				snprintf(err, errlen,
					 "%s: at most %zu values are allowed",
					 k->name, k->max);
				return -EINVAL;
			}
			list[(*count)++] = copy;
			return 0;
		}
	case KEY_DURATION:
		if (pc_parse_duration(value, &number) < 0 || number == 0) {
			snprintf(err, errlen,
				 "%s: '%s' is not a duration (like 30s, 10m, "
				 "12h, 7d)",
				 k->name, value);
			return -EINVAL;
		}
		*(uint64_t *)field_of(cfg, k->offset) = number;
		return 0;
	case KEY_COUNT: {
		char *end;

		errno = 0;
		number = strtoull(value, &end, 10);
		/* strtoull takes "+8", " 8" and wraps "-1": digits only. */
		if (errno || value[0] < '0' || value[0] > '9' || *end ||
		    number == 0 || number > k->max) {
			snprintf(err, errlen,
				 "%s: '%s' is not a number from "
				 "1 to %zu",
				 k->name, value, k->max);
			return -EINVAL;
		}
		*(uint64_t *)field_of(cfg, k->offset) = number;
		return 0;
	}
	case KEY_BOOL:
		return set_bool(field_of(cfg, k->offset), k->name, value, err,
				errlen);
	case KEY_MILLIS:
		return set_millis(field_of(cfg, k->offset), k, value, err,
				  errlen);
	case KEY_SIZE:
		if (pc_parse_size(value, &number) < 0 || number == 0) {
			snprintf(err, errlen,
				 "%s: '%s' is not a size (like 512M, 5G)",
				 k->name, value);
			return -EINVAL;
		}
		*(uint64_t *)field_of(cfg, k->offset) = number;
		return 0;
	case KEY_LOGLEVEL:
		for (size_t i = 0; i < 4; i++) {
			if (strcasecmp(value, level_names[i]) == 0) {
				cfg->log_level = (enum pc_log_level)i;
				return 0;
			}
		}
		snprintf(err, errlen,
			 "%s: '%s' is not one of error, warn, "
			 "info, debug",
			 k->name, value);
		return -EINVAL;
	}
	return -EINVAL;
}

int pc_config_set(struct pc_config *cfg, const char *key, const char *value,
		  char *err, size_t errlen)
{
	const struct key *k = find_key(key);

	if (!k) {
		snprintf(err, errlen, "unknown configuration key '%s'", key);
		return -EINVAL;
	}
	return set_key(cfg, k, value, err, errlen);
}

int pc_config_defaults(struct pc_config *cfg)
{
	char ignored[64];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!keys[i].fallback)
			continue;
		if (set_key(cfg, &keys[i], keys[i].fallback, ignored,
			    sizeof(ignored)) < 0)
			return -ENOMEM;
	}
	return 0;
}

struct ini_state {
	struct pc_config *cfg;
	const char *path;
	char *err;
	size_t errlen;
	int rc;
};

/* inih handler: returns nonzero to continue. */
static int on_ini_value(void *user, const char *section, const char *name,
			const char *value)
{
	struct ini_state *st = user;
	char why[256];

	if (st->rc < 0)
		return 0;
	if (section[0] && strcmp(section, "peercache") != 0) {
		snprintf(st->err, st->errlen, "%s: unknown section [%s]",
			 st->path, section);
		st->rc = -EINVAL;
		return 0;
	}
	if (pc_config_set(st->cfg, name, value, why, sizeof(why)) < 0) {
		snprintf(st->err, st->errlen, "%s: %s", st->path, why);
		st->rc = -EINVAL;
		return 0;
	}
	return 1;
}

int pc_config_load_file(struct pc_config *cfg, const char *path,
			bool must_exist, char *err, size_t errlen)
{
	struct ini_state st = { cfg, path, err, errlen, 0 };
	FILE *f = fopen(path, "re");
	int line;

	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	line = ini_parse_file(f, on_ini_value, &st);
	fclose(f);
	if (st.rc < 0)
		return st.rc;
	if (line != 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, line);
		return -EINVAL;
	}
	return 0;
}

int pc_config_finish(struct pc_config *cfg, char *err, size_t errlen)
{
	if (cfg->nmirrors == 0) {
		snprintf(err, errlen, "mirror: at least one mirror is needed");
		return -EINVAL;
	}
	if (cfg->ntrusted_keys == 0) {
		snprintf(err, errlen,
			 "trusted_key: at least one trusted key is needed");
		return -EINVAL;
	}
	if (!cfg->control_socket[0]) {
		free(cfg->control_socket);
		if (asprintf(&cfg->control_socket, "%s/control.sock",
			     cfg->cache_dir) < 0) {
			cfg->control_socket = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

void pc_config_print(const struct pc_config *cfg, void *out)
{
	FILE *f = out;

	fprintf(f, "[peercache]\n");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		const void *field = (const char *)cfg + k->offset;

		switch (k->type) {
		case KEY_STRING:
			fprintf(f, "%s = %s\n", k->name,
				*(char *const *)field ? *(char *const *)field
						      : "");
			break;
		case KEY_LIST: {
			char *const *list = field;
			size_t n = *(const size_t *)((const char *)cfg +
						     k->count_offset);

			for (size_t j = 0; j < n; j++)
				fprintf(f, "%s = %s\n", k->name, list[j]);
			break;
		}
		case KEY_DURATION:
			fprintf(f, "%s = %llus\n", k->name,
				(unsigned long long)*(const uint64_t *)field);
			break;
		case KEY_COUNT:
			fprintf(f, "%s = %llu\n", k->name,
				(unsigned long long)*(const uint64_t *)field);
			break;
		case KEY_LOGLEVEL:
			fprintf(f, "%s = %s\n", k->name,
				level_names[cfg->log_level]);
			break;
		case KEY_BOOL:
			fprintf(f, "%s = %s\n", k->name,
				*(const bool *)field ? "on" : "off");
			break;
		case KEY_MILLIS:
			fprintf(f, "%s = %llums\n", k->name,
				(unsigned long long)*(const uint64_t *)field);
			break;
		case KEY_SIZE:
			fprintf(f, "%s = %llu\n", k->name,
				(unsigned long long)*(const uint64_t *)field);
			break;
		}
	}
}

void pc_config_free(struct pc_config *cfg)
{
	for (size_t i = 0; i < cfg->nmirrors; i++)
		free(cfg->mirrors[i]);
	for (size_t i = 0; i < cfg->ntrusted_keys; i++)
		free(cfg->trusted_keys[i]);
	free(cfg->repository);
	free(cfg->cache_dir);
	free(cfg->control_socket);
	free(cfg->proxy);
	free(cfg->ca_file);
	free(cfg->interfaces);
	free(cfg->discovery_group);
	free(cfg->peers);
	free(cfg->peer_allow);
	free(cfg->fleet_key_file);
	free(cfg->metrics_listen);
	free(cfg->control_group);
	memset(cfg, 0, sizeof(*cfg));
}

bool pc_config_key_info(size_t i, struct pc_config_key_info *info)
{
	static const char *const kinds[] = {
		[KEY_STRING] = "text",	       [KEY_LIST] = "list",
		[KEY_DURATION] = "duration",   [KEY_COUNT] = "count",
		[KEY_LOGLEVEL] = "level",      [KEY_BOOL] = "on/off",
		[KEY_MILLIS] = "milliseconds", [KEY_SIZE] = "size",
	};

	if (i >= sizeof(keys) / sizeof(keys[0]))
		return false;
	info->name = keys[i].name;
	info->fallback = keys[i].fallback;
	info->kind = kinds[keys[i].type];
	return true;
}
