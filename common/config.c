/*
 * config.c - the daemon's configuration (pc_config.h): the keys, their
 * values, and the configuration as a whole; config_file.c reads and
 * prints the file.
 *
 * One table describes every key: its name, its type, where it lives in
 * struct pc_config and, for numbers, the range it must be in.  The INI
 * reader (inih), the -o parser and the printer all walk that table, so a
 * key cannot be accepted by one and unknown to another, and no value can
 * reach the daemon outside its bounds (a duration of 2^64 seconds would
 * overflow every millisecond computation downstream).  Values quoted in
 * messages are escaped: a config's bytes never reach a terminal raw.
 *
 * Repositories ([repository NAME] sections, pc_config.h): the table says
 * where each key may be given (its scope) and, for the keys of a section,
 * where it lives in struct pc_repo_config, so that a section's keys are
 * parsed, bounded and printed by the same code as the top level's.
 * pc_config_finish() makes repos[] the one list the daemon reads: the
 * sections, or repos[0] copied from the top-level keys of the compatible
 * form.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "pc_util.h"

#define RFIELD(f) offsetof(struct pc_repo_config, f)
#define NO_FIELD SIZE_MAX
#define HOST_ONLY SCOPE_HOST, 0, 0
#define MINUTE 60ull
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define PIB (1ull << 50)

/* The bounds are documented in systemd/peercache.conf.example. */
const struct key config_keys[] = {
	{ "mirror", KEY_LIST, FIELD(mirrors), FIELD(nmirrors), 0,
	  PC_CONFIG_MAX_MIRRORS, NULL, SCOPE_BOTH, RFIELD(mirrors),
	  RFIELD(nmirrors) },
	{ "trusted_key", KEY_LIST, FIELD(trusted_keys), FIELD(ntrusted_keys), 0,
	  PC_CONFIG_MAX_KEYS, NULL, SCOPE_BOTH, RFIELD(trusted_keys),
	  RFIELD(ntrusted_keys) },
	{ "repository", KEY_STRING, FIELD(repository), 0, 0, 0, "",
	  SCOPE_SINGLE, 0, 0 },
	{ "cache_dir", KEY_STRING, FIELD(cache_dir), 0, 0, 0,
	  PC_DEFAULT_CACHE_DIR, HOST_ONLY },
	{ "control_socket", KEY_STRING, FIELD(control_socket), 0, 0, 0, "",
	  HOST_ONLY },
	{ "proxy", KEY_STRING, FIELD(proxy), 0, 0, 0, "", HOST_ONLY },
	{ "ca_file", KEY_STRING, FIELD(ca_file), 0, 0, 0, "", HOST_ONLY },
	{ "poll_interval", KEY_DURATION, FIELD(poll_interval), 0, 10, 30 * DAY,
	  "10m", SCOPE_BOTH, RFIELD(poll_interval), 0 },
	{ "fetch_timeout", KEY_DURATION, FIELD(fetch_timeout), 0, 2, HOUR,
	  "30s", HOST_ONLY },
	{ "connect_timeout", KEY_DURATION, FIELD(connect_timeout), 0, 1,
	  10 * MINUTE, "5s", HOST_ONLY },
	{ "low_speed_time", KEY_DURATION, FIELD(low_speed_time), 0, 1, HOUR,
	  "10s", HOST_ONLY },
	{ "max_fetches", KEY_COUNT, FIELD(max_fetches), 0, 1, 256, "8",
	  HOST_ONLY },
	{ "prefetch", KEY_COUNT, FIELD(prefetch), 0, 1, 64, "16", HOST_ONLY },
	{ "read_ahead", KEY_SIZE, FIELD(read_ahead), 0, 128 * 1024,
	  16 * 1024 * 1024, "3840K", HOST_ONLY },
	{ "log_level", KEY_LOGLEVEL, FIELD(log_level), 0, 0, 0, "info",
	  HOST_ONLY },
	{ "discovery", KEY_BOOL, FIELD(discovery), 0, 0, 0, "on", HOST_ONLY },
	{ "discovery_port", KEY_COUNT, FIELD(discovery_port), 0, 1, 65535,
	  "8082", HOST_ONLY },
	{ "interfaces", KEY_STRING, FIELD(interfaces), 0, 0, 0, "", HOST_ONLY },
	{ "discovery_group", KEY_STRING, FIELD(discovery_group), 0, 0, 0, "",
	  HOST_ONLY },
	{ "peers", KEY_STRING, FIELD(peers), 0, 0, 0, "", HOST_ONLY },
	{ "peer_allow", KEY_STRING, FIELD(peer_allow), 0, 0, 0, "", HOST_ONLY },
	{ "fleet_key_file", KEY_STRING, FIELD(fleet_key_file), 0, 0, 0, "",
	  HOST_ONLY },
	{ "discovery_timeout", KEY_MILLIS, FIELD(discovery_timeout), 0, 1,
	  10000, "50ms", HOST_ONLY },
	{ "peer_server", KEY_BOOL, FIELD(peer_server), 0, 0, 0, "on",
	  HOST_ONLY },
	{ "peer_port", KEY_COUNT, FIELD(peer_port), 0, 1, 65535, "8081",
	  HOST_ONLY },
	{ "max_uploads", KEY_COUNT, FIELD(max_uploads), 0, 1, 10000, "50",
	  HOST_ONLY },
	{ "peer_ban_time", KEY_DURATION, FIELD(peer_ban_time), 0, 1, 30 * DAY,
	  "10m", HOST_ONLY },
	{ "passthrough", KEY_BOOL, FIELD(passthrough), 0, 0, 0, "on",
	  HOST_ONLY },
	{ "mirror_serve", KEY_BOOL, FIELD(mirror_serve), 0, 0, 0, "off",
	  HOST_ONLY },
	{ "mirror_allow", KEY_STRING, FIELD(mirror_allow), 0, 0, 0, "",
	  HOST_ONLY },
	{ "quota", KEY_SIZE, FIELD(quota), 0, PC_CONFIG_QUOTA_MIN, PIB, "512M",
	  HOST_ONLY },
	{ "max_age", KEY_DURATION, FIELD(max_age), 0, 1, 3650 * DAY, "30d",
	  HOST_ONLY },
	{ "purge_interval", KEY_DURATION, FIELD(purge_interval), 0, 1, 30 * DAY,
	  "1h", HOST_ONLY },
	{ "metrics_listen", KEY_STRING, FIELD(metrics_listen), 0, 0, 0, "",
	  HOST_ONLY },
	{ "control_group", KEY_STRING, FIELD(control_group), 0, 0, 0, "",
	  HOST_ONLY },
	{ "mount_point", KEY_STRING, NO_FIELD, 0, 0, 0, NULL, SCOPE_REPO,
	  RFIELD(mount_point), 0 },
};

#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))
_Static_assert(NKEYS <= 64, "pc_config.keys_set has one bit per key");
const size_t config_nkeys = NKEYS;

const char *const config_level_names[4] = { "error", "warn", "info", "debug" };

const struct key *config_find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* The field at @offset of @base (a struct pc_config, or a struct
 * pc_repo_config for a section's key). */
static void *field_of(void *base, size_t offset)
{
	return (char *)base + offset;
}

/* @value as it may be shown on a terminal: printable ASCII as it is,
 * any other byte as \xNN; at most what fits in @buf. */
const char *config_shown(const char *value, char *buf, size_t len)
{
	size_t n = 0;

	for (; *value && n + 5 < len; value++) {
		unsigned char c = (unsigned char)*value;

		if (c >= 0x20 && c < 0x7f)
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
	}
	buf[n] = '\0';
	if (*value && len > 4)
		memcpy(buf + (n < len - 4 ? n : len - 4), "...", 4);
	return buf;
}

static int set_bool(bool *field, const char *name, const char *value, char *err,
		    size_t errlen)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	char text[64];

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
	snprintf(err, errlen, "%s: '%s' is not on or off", name,
		 config_shown(value, text, sizeof(text)));
	return -EINVAL;
}

/* The largest unit that divides @value exactly: "30d", "10m", "90s". */
static const char *duration_text(uint64_t seconds, char *buf, size_t len)
{
	static const struct {
		uint64_t unit;
		char suffix;
	} units[] = { { DAY, 'd' }, { HOUR, 'h' }, { MINUTE, 'm' } };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (seconds && seconds % units[i].unit == 0) {
			snprintf(buf, len, "%llu%c",
				 (unsigned long long)(seconds / units[i].unit),
				 units[i].suffix);
			return buf;
		}
	snprintf(buf, len, "%llus", (unsigned long long)seconds);
	return buf;
}

/* The same for sizes, in the units the parser takes: "512M", "1024T". */
static const char *size_text(uint64_t bytes, char *buf, size_t len)
{
	static const char letters[] = "TGMK";

	for (int i = 0; i < 4; i++) {
		uint64_t unit = 1ull << (10 * (4 - i));

		if (bytes && bytes % unit == 0) {
			snprintf(buf, len, "%llu%c",
				 (unsigned long long)(bytes / unit),
				 letters[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)bytes);
	return buf;
}

/* A number parsed for @k is within its bounds, or refused saying which. */
static int in_range(const struct key *k, const char *value, uint64_t number,
		    char *err, size_t errlen)
{
	char text[64], lo[32], hi[32];

	if (number >= k->min && number <= k->max)
		return 0;
	config_shown(value, text, sizeof(text));
	switch (k->type) {
	case KEY_DURATION:
		snprintf(err, errlen, "%s: '%s' is out of range: from %s to %s",
			 k->name, text, duration_text(k->min, lo, sizeof(lo)),
			 duration_text(k->max, hi, sizeof(hi)));
		break;
	case KEY_SIZE:
		snprintf(err, errlen, "%s: '%s' is out of range: from %s to %s",
			 k->name, text, size_text(k->min, lo, sizeof(lo)),
			 size_text(k->max, hi, sizeof(hi)));
		break;
	case KEY_MILLIS:
		snprintf(err, errlen,
			 "%s: '%s' is not a duration from %llums to %llums "
			 "(like 50ms, 1s)",
			 k->name, text, (unsigned long long)k->min,
			 (unsigned long long)k->max);
		break;
	default:
		snprintf(err, errlen,
			 "%s: '%s' is not a number from %llu to %llu", k->name,
			 text, (unsigned long long)k->min,
			 (unsigned long long)k->max);
		break;
	}
	return -EINVAL;
}

/* "50ms", or a duration in seconds ("2s", "1m"), in milliseconds. */
static int parse_millis(const char *value, uint64_t *out)
{
	size_t len = strlen(value);
	uint64_t number;
	char *end;

	if (len > 2 && strcmp(value + len - 2, "ms") == 0) {
		errno = 0;
		number = strtoull(value, &end, 10);
		if (errno || end != value + len - 2 || value[0] < '0' ||
		    value[0] > '9')
			return -EINVAL;
	} else if (pc_parse_duration(value, &number) < 0 ||
		   number > UINT64_MAX / 1000) {
		return -EINVAL;
	} else {
		number *= 1000;
	}
	*out = number;
	return 0;
}

/* Digits only: strtoull takes "+8", " 8" and wraps "-1". */
static int parse_count(const char *value, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(value, &end, 10);
	return errno || value[0] < '0' || value[0] > '9' || *end ? -EINVAL : 0;
}

/* A number of @k's type from @value, within its bounds, into @field. */
static int set_number(uint64_t *field, const struct key *k, const char *value,
		      char *err, size_t errlen)
{
	static const char *const like[] = {
		[KEY_DURATION] = "a duration (like 30s, 10m, 12h, 7d)",
		[KEY_SIZE] = "a size (like 512M, 5G)",
	};
	uint64_t number;
	char text[64];
	int rc;

	switch (k->type) {
	case KEY_DURATION:
		rc = pc_parse_duration(value, &number);
		break;
	case KEY_SIZE:
		rc = pc_parse_size(value, &number);
		break;
	case KEY_MILLIS:
		rc = parse_millis(value, &number);
		break;
	default:
		rc = parse_count(value, &number);
		break;
	}
	if (rc < 0 && (k->type == KEY_DURATION || k->type == KEY_SIZE)) {
		snprintf(err, errlen, "%s: '%s' is not %s", k->name,
			 config_shown(value, text, sizeof(text)),
			 like[k->type]);
		return -EINVAL;
	}
	if (rc < 0)
		number = k->max + 1; /* refused with the range */
	if (in_range(k, value, number, err, errlen) < 0) {
		if (k->offset == FIELD(quota) && number < k->min)
			snprintf(err, errlen,
				 "quota: '%s' is below 16M, the least one read "
				 "needs (room for four chunks of up to 4 MiB)",
				 config_shown(value, text, sizeof(text)));
		return -EINVAL;
	}
	*field = number;
	return 0;
}

/* @value into the string @list (KEY_STRING) or appended to the list
 * @list of *@count values (KEY_LIST). */
static int set_string(char **list, size_t *count, const struct key *k,
		      const char *value, char *err, size_t errlen)
{
	char *copy = strdup(value);

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (k->type == KEY_STRING) {
		free(*list);
		*list = copy;
		return 0;
	}
	if (*count == k->max) {
		free(copy);
		snprintf(err, errlen, "%s: at most %llu values are allowed",
			 k->name, (unsigned long long)k->max);
		return -EINVAL;
	}
	list[(*count)++] = copy;
	return 0;
}

static int set_key(struct pc_config *cfg, const struct key *k,
		   const char *value, char *err, size_t errlen)
{
	char text[64];
	int rc = -EINVAL;

	switch (k->type) {
	case KEY_STRING:
	case KEY_LIST:
		rc = set_string(field_of(cfg, k->offset),
				field_of(cfg, k->count_offset), k, value, err,
				errlen);
		break;
	case KEY_DURATION:
	case KEY_COUNT:
	case KEY_MILLIS:
	case KEY_SIZE:
		rc = set_number(field_of(cfg, k->offset), k, value, err,
				errlen);
		break;
	case KEY_BOOL:
		rc = set_bool(field_of(cfg, k->offset), k->name, value, err,
			      errlen);
		break;
	case KEY_LOGLEVEL:
		for (size_t i = 0; i < 4 && rc < 0; i++)
			if (strcasecmp(value, config_level_names[i]) == 0) {
				cfg->log_level = (enum pc_log_level)i;
				rc = 0;
			}
		if (rc < 0)
			snprintf(err, errlen,
				 "%s: '%s' is not one of error, warn, info, "
				 "debug",
				 k->name,
				 config_shown(value, text, sizeof(text)));
		break;
	}
	if (rc == 0)
		cfg->keys_set |= KEY_BIT(k);
	return rc;
}

int pc_config_set(struct pc_config *cfg, const char *key, const char *value,
		  char *err, size_t errlen)
{
	const struct key *k = config_find_key(key);
	char text[64];

	if (!k) {
		snprintf(err, errlen, "unknown configuration key '%s'",
			 config_shown(key, text, sizeof(text)));
		return -EINVAL;
	}
	if (k->scope == SCOPE_REPO) {
		snprintf(err, errlen,
			 "%s: only in a [repository NAME] section (without "
			 "sections, the mount point is peercache's MOUNTPOINT "
			 "argument)",
			 k->name);
		return -EINVAL;
	}
	return set_key(cfg, k, value, err, errlen);
}

/* A key of a [repository NAME] section into @repo: one of the section's
 * keys (SCOPE_REPO, SCOPE_BOTH), or refused saying where it belongs. */
int config_set_repo_key(struct pc_repo_config *repo, const struct key *k,
			const char *value, char *err, size_t errlen)
{
	char text[64];
	int rc;

	if (k->scope == SCOPE_SINGLE) {
		snprintf(err, errlen,
			 "%s: not in a section: the repository's name is "
			 "the section's NAME, [repository %s]",
			 k->name, repo->name);
		return -EINVAL;
	}
	if (k->scope == SCOPE_HOST) {
		snprintf(err, errlen,
			 "%s: host-wide key, not allowed in [repository %s]: "
			 "put it in [peercache]",
			 k->name, repo->name);
		return -EINVAL;
	}
	/* Mounted by a daemon whose working directory is not the file's. */
	if (k->scope == SCOPE_REPO && value[0] != '/') {
		snprintf(err, errlen, "%s: '%s' is not an absolute path",
			 k->name, config_shown(value, text, sizeof(text)));
		return -EINVAL;
	}
	if (k->type == KEY_DURATION)
		rc = set_number(field_of(repo, k->repo_offset), k, value, err,
				errlen);
	else
		rc = set_string(field_of(repo, k->repo_offset),
				field_of(repo, k->repo_count_offset), k, value,
				err, errlen);
	if (rc == 0)
		repo->keys_set |= KEY_BIT(k);
	return rc;
}

bool pc_config_is_set(const struct pc_config *cfg, const char *key)
{
	const struct key *k = config_find_key(key);

	return k && (cfg->keys_set & (KEY_BIT(k)));
}

int pc_config_defaults(struct pc_config *cfg)
{
	char ignored[64];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		if (!config_keys[i].fallback)
			continue;
		if (set_key(cfg, &config_keys[i], config_keys[i].fallback,
			    ignored, sizeof(ignored)) < 0)
			return -ENOMEM;
	}
	cfg->keys_set = 0;
	return 0;
}

/*
 * A transfer that stalls is cut after low_speed_time; if that is not
 * shorter than fetch_timeout, a stalled first mirror uses up a read's
 * whole time and the next mirror is never tried.  A default low_speed_time
 * is lowered to half of fetch_timeout; one given explicitly is refused.
 */
static int check_low_speed(struct pc_config *cfg, char *err, size_t errlen)
{
	if (cfg->low_speed_time < cfg->fetch_timeout)
		return 0;
	if (pc_config_is_set(cfg, "low_speed_time")) {
		snprintf(err, errlen,
			 "low_speed_time (%llus) must be shorter than "
			 "fetch_timeout (%llus): a mirror that stalls would "
			 "use up a read's whole time before the next one is "
			 "tried",
			 (unsigned long long)cfg->low_speed_time,
			 (unsigned long long)cfg->fetch_timeout);
		return -EINVAL;
	}
	cfg->low_speed_time = cfg->fetch_timeout / 2;
	return 0;
}

/* mirror_serve (net/mirror_serve.c) serves on the peer server's port, and
 * nobody unless told whom: there is no "allow all" default. */
static int check_mirror_serve(const struct pc_config *cfg, char *err,
			      size_t errlen)
{
	if (cfg->mirror_serve && (!cfg->mirror_allow || !cfg->mirror_allow[0]))
		snprintf(err, errlen,
			 "mirror_serve = on needs mirror_allow: the address "
			 "blocks of the sites that may use this node as their "
			 "mirror (e.g. mirror_allow = 10.2.0.0/16)");
	else if (cfg->mirror_serve && !cfg->peer_server)
		snprintf(err, errlen,
			 "mirror_serve = on needs peer_server = on: the "
			 "published layout is served on its port");
	else
		return 0;
	return -EINVAL;
}

static void repo_free(struct pc_repo_config *repo)
{
	for (size_t i = 0; i < repo->nmirrors; i++)
		free(repo->mirrors[i]);
	for (size_t i = 0; i < repo->ntrusted_keys; i++)
		free(repo->trusted_keys[i]);
	free(repo->name);
	free(repo->mount_point);
	memset(repo, 0, sizeof(*repo));
}

/* Copies of @n strings of @from into @to; false when out of memory. */
static bool copy_list(char **to, char *const *from, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(to[i] = strdup(from[i])))
			return false;
	return true;
}

/* The compatible form's one repository, from the top-level keys. */
static int resolve_single(struct pc_config *cfg)
{
	struct pc_repo_config *repo = &cfg->repos[0];
	bool ok;

	for (size_t i = 0; i < cfg->nrepos; i++)
		repo_free(&cfg->repos[i]);
	cfg->nrepos = 1;
	repo->name = strdup(cfg->repository ? cfg->repository : "");
	ok = repo->name != NULL;
	repo->nmirrors = cfg->nmirrors;
	ok = ok && copy_list(repo->mirrors, cfg->mirrors, cfg->nmirrors);
	repo->ntrusted_keys = cfg->ntrusted_keys;
	ok = ok && copy_list(repo->trusted_keys, cfg->trusted_keys,
			     cfg->ntrusted_keys);
	repo->poll_interval = cfg->poll_interval;
	return ok ? 0 : -ENOMEM;
}

int pc_config_resolve_repos(struct pc_config *cfg)
{
	const struct key *poll = config_find_key("poll_interval");

	if (!cfg->repo_sections)
		return resolve_single(cfg);
	for (size_t i = 0; i < cfg->nrepos; i++)
		if (!(cfg->repos[i].keys_set & (KEY_BIT(poll))))
			cfg->repos[i].poll_interval = cfg->poll_interval;
	return 0;
}

/* The compatible form needs its mirror and key; the section form has
 * them in each section (checked as the file was read), and none at the
 * top level (a -o mirror= would not say which repository it is for). */
static int check_repos(const struct pc_config *cfg, char *err, size_t errlen)
{
	const char *top = cfg->nmirrors				? "mirror"
			  : cfg->ntrusted_keys			? "trusted_key"
			  : pc_config_is_set(cfg, "repository") ? "repository"
								: NULL;

	if (cfg->repo_sections && top) {
		snprintf(err, errlen,
			 "%s: given at the top level (-o or [peercache]), but "
			 "the configuration has [repository NAME] sections: "
			 "give mirror and trusted_key in the section of their "
			 "repository",
			 top);
		return -EINVAL;
	}
	if (cfg->repo_sections)
		return 0;
	if (cfg->nmirrors == 0) {
		snprintf(err, errlen, "mirror: at least one mirror is needed");
		return -EINVAL;
	}
	if (cfg->ntrusted_keys == 0) {
		snprintf(err, errlen,
			 "trusted_key: at least one trusted key is needed");
		return -EINVAL;
	}
	return 0;
}

int pc_config_finish(struct pc_config *cfg, char *err, size_t errlen)
{
	int rc;

	rc = check_repos(cfg, err, errlen);
	if (rc == 0)
		rc = check_low_speed(cfg, err, errlen);
	if (rc == 0)
		rc = check_mirror_serve(cfg, err, errlen);
	if (rc < 0)
		return rc;
	if (pc_config_resolve_repos(cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
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

void pc_config_free(struct pc_config *cfg)
{
	for (size_t i = 0; i < cfg->nrepos; i++)
		repo_free(&cfg->repos[i]);
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
	free(cfg->mirror_allow);
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
	static const char *const scopes[] = {
		[SCOPE_HOST] = "host",
		[SCOPE_REPO] = "repository",
		[SCOPE_BOTH] = "both",
		[SCOPE_SINGLE] = "single",
	};

	if (i >= sizeof(config_keys) / sizeof(config_keys[0]))
		return false;
	info->name = config_keys[i].name;
	info->fallback = config_keys[i].fallback;
	info->kind = kinds[config_keys[i].type];
	info->scope = scopes[config_keys[i].scope];
	return true;
}
