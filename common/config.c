/*
 * config.c - the daemon's configuration (pc_config.h).
 *
 * One table describes every key: its name, its type, where it lives in
 * struct pc_config and, for numbers, the range it must be in.  The INI
 * reader (inih), the -o parser and the printer all walk that table, so a
 * key cannot be accepted by one and unknown to another, and no value can
 * reach the daemon outside its bounds (a duration of 2^64 seconds would
 * overflow every millisecond computation downstream).
 *
 * A configuration file is read whole, bounded (PC_CONFIG_FILE_MAX), and
 * only if it is a regular file (or /dev/null): a device or a FIFO would
 * never end, a directory reads as nothing.  inih parses it from memory
 * through a reader of ours that hands it one line at a time, so that a
 * line longer than inih's buffer, or one with control bytes, is refused
 * with its own line number instead of being split into garbage.  Values
 * quoted in messages are escaped: a config's bytes never reach a terminal
 * raw.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
	uint64_t min;	      /* numbers: the lowest value (seconds, ms,
				 bytes); KEY_LIST: 0 */
	uint64_t max;	      /* numbers: the highest; KEY_LIST: capacity */
	const char *fallback; /* default, as text */
};

#define FIELD(f) offsetof(struct pc_config, f)
#define MINUTE 60ull
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define PIB (1ull << 50)

/* The bounds are documented in systemd/peercache.conf.example. */
static const struct key keys[] = {
	{ "mirror", KEY_LIST, FIELD(mirrors), FIELD(nmirrors), 0,
	  PC_CONFIG_MAX_MIRRORS, NULL },
	{ "trusted_key", KEY_LIST, FIELD(trusted_keys), FIELD(ntrusted_keys), 0,
	  PC_CONFIG_MAX_KEYS, NULL },
	{ "repository", KEY_STRING, FIELD(repository), 0, 0, 0, "" },
	{ "cache_dir", KEY_STRING, FIELD(cache_dir), 0, 0, 0,
	  PC_DEFAULT_CACHE_DIR },
	{ "control_socket", KEY_STRING, FIELD(control_socket), 0, 0, 0, "" },
	{ "proxy", KEY_STRING, FIELD(proxy), 0, 0, 0, "" },
	{ "ca_file", KEY_STRING, FIELD(ca_file), 0, 0, 0, "" },
	{ "poll_interval", KEY_DURATION, FIELD(poll_interval), 0, 10, 30 * DAY,
	  "10m" },
	{ "fetch_timeout", KEY_DURATION, FIELD(fetch_timeout), 0, 2, HOUR,
	  "30s" },
	{ "connect_timeout", KEY_DURATION, FIELD(connect_timeout), 0, 1,
	  10 * MINUTE, "5s" },
	{ "low_speed_time", KEY_DURATION, FIELD(low_speed_time), 0, 1, HOUR,
	  "10s" },
	{ "max_fetches", KEY_COUNT, FIELD(max_fetches), 0, 1, 256, "8" },
	{ "prefetch", KEY_COUNT, FIELD(prefetch), 0, 1, 64, "16" },
	{ "log_level", KEY_LOGLEVEL, FIELD(log_level), 0, 0, 0, "info" },
	{ "discovery", KEY_BOOL, FIELD(discovery), 0, 0, 0, "on" },
	{ "discovery_port", KEY_COUNT, FIELD(discovery_port), 0, 1, 65535,
	  "8082" },
	{ "interfaces", KEY_STRING, FIELD(interfaces), 0, 0, 0, "" },
	{ "discovery_group", KEY_STRING, FIELD(discovery_group), 0, 0, 0, "" },
	{ "peers", KEY_STRING, FIELD(peers), 0, 0, 0, "" },
	{ "peer_allow", KEY_STRING, FIELD(peer_allow), 0, 0, 0, "" },
	{ "fleet_key_file", KEY_STRING, FIELD(fleet_key_file), 0, 0, 0, "" },
	{ "discovery_timeout", KEY_MILLIS, FIELD(discovery_timeout), 0, 1,
	  10000, "50ms" },
	{ "peer_server", KEY_BOOL, FIELD(peer_server), 0, 0, 0, "on" },
	{ "peer_port", KEY_COUNT, FIELD(peer_port), 0, 1, 65535, "8081" },
	{ "max_uploads", KEY_COUNT, FIELD(max_uploads), 0, 1, 10000, "50" },
	{ "peer_ban_time", KEY_DURATION, FIELD(peer_ban_time), 0, 1, 30 * DAY,
	  "10m" },
	{ "mirror_serve", KEY_BOOL, FIELD(mirror_serve), 0, 0, 0, "off" },
	{ "mirror_allow", KEY_STRING, FIELD(mirror_allow), 0, 0, 0, "" },
	{ "quota", KEY_SIZE, FIELD(quota), 0, PC_CONFIG_QUOTA_MIN, PIB,
	  "512M" },
	{ "max_age", KEY_DURATION, FIELD(max_age), 0, 1, 3650 * DAY, "30d" },
	{ "purge_interval", KEY_DURATION, FIELD(purge_interval), 0, 1, 30 * DAY,
	  "1h" },
	{ "metrics_listen", KEY_STRING, FIELD(metrics_listen), 0, 0, 0, "" },
	{ "control_group", KEY_STRING, FIELD(control_group), 0, 0, 0, "" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= 64, "pc_config.keys_set has one bit per key");

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void *field_of(struct pc_config *cfg, size_t offset)
{
	return (char *)cfg + offset;
}

/* @value as it may be shown on a terminal: printable ASCII as it is,
 * any other byte as \xNN; at most what fits in @buf. */
static const char *shown(const char *value, char *buf, size_t len)
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
		 shown(value, text, sizeof(text)));
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
	shown(value, text, sizeof(text));
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

/* A number of @k's type from @value, within its bounds. */
static int set_number(struct pc_config *cfg, const struct key *k,
		      const char *value, char *err, size_t errlen)
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
			 shown(value, text, sizeof(text)), like[k->type]);
		return -EINVAL;
	}
	if (rc < 0)
		number = k->max + 1; /* refused with the range */
	if (in_range(k, value, number, err, errlen) < 0) {
		if (k->offset == FIELD(quota) && number < k->min)
			snprintf(err, errlen,
				 "quota: '%s' is below 16M, the least one read "
				 "needs (room for four chunks of up to 4 MiB)",
				 shown(value, text, sizeof(text)));
		return -EINVAL;
	}
	*(uint64_t *)field_of(cfg, k->offset) = number;
	return 0;
}

static int set_string(struct pc_config *cfg, const struct key *k,
		      const char *value, char *err, size_t errlen)
{
	char *copy = strdup(value);
	char **list = field_of(cfg, k->offset);
	size_t *count;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (k->type == KEY_STRING) {
		free(*list);
		*list = copy;
		return 0;
	}
	count = field_of(cfg, k->count_offset);
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
		rc = set_string(cfg, k, value, err, errlen);
		break;
	case KEY_DURATION:
	case KEY_COUNT:
	case KEY_MILLIS:
	case KEY_SIZE:
		rc = set_number(cfg, k, value, err, errlen);
		break;
	case KEY_BOOL:
		rc = set_bool(field_of(cfg, k->offset), k->name, value, err,
			      errlen);
		break;
	case KEY_LOGLEVEL:
		for (size_t i = 0; i < 4 && rc < 0; i++)
			if (strcasecmp(value, level_names[i]) == 0) {
				cfg->log_level = (enum pc_log_level)i;
				rc = 0;
			}
		if (rc < 0)
			snprintf(err, errlen,
				 "%s: '%s' is not one of error, warn, info, "
				 "debug",
				 k->name, shown(value, text, sizeof(text)));
		break;
	}
	if (rc == 0)
		cfg->keys_set |= 1ull << (k - keys);
	return rc;
}

int pc_config_set(struct pc_config *cfg, const char *key, const char *value,
		  char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	char text[64];

	if (!k) {
		snprintf(err, errlen, "unknown configuration key '%s'",
			 shown(key, text, sizeof(text)));
		return -EINVAL;
	}
	return set_key(cfg, k, value, err, errlen);
}

bool pc_config_is_set(const struct pc_config *cfg, const char *key)
{
	const struct key *k = find_key(key);

	return k && (cfg->keys_set & (1ull << (k - keys)));
}

int pc_config_defaults(struct pc_config *cfg)
{
	char ignored[64];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		if (!keys[i].fallback)
			continue;
		if (set_key(cfg, &keys[i], keys[i].fallback, ignored,
			    sizeof(ignored)) < 0)
			return -ENOMEM;
	}
	cfg->keys_set = 0;
	return 0;
}

/* ---- the file ---------------------------------------------------------------- */

/* inih's reader, over the file's bytes in memory: one whole line per
 * call, or the end of the parse with the reason in @err. */
struct line_reader {
	const char *pos, *end;
	int line; /* of the last line handed out, from 1 */
	const char *path;
	char *err;
	size_t errlen;
	int rc;
};

struct ini_state {
	struct pc_config *cfg;
	struct line_reader *reader;
};

static char *read_line(char *buf, int size, void *stream)
{
	struct line_reader *r = stream;
	const char *newline;
	size_t len;

	if (r->rc < 0 || r->pos >= r->end)
		return NULL;
	newline = memchr(r->pos, '\n', (size_t)(r->end - r->pos));
	len = newline ? (size_t)(newline - r->pos) + 1
		      : (size_t)(r->end - r->pos);
	r->line++;
	/* inih's buffer holds the line, its newline and a NUL. */
	if (size < 3 || len + 1 > (size_t)size) {
		snprintf(r->err, r->errlen, "%s:%d: line longer than %d bytes",
			 r->path, r->line, size - 2);
		r->rc = -EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)r->pos[i];

		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
		    c == 0x7f) {
			snprintf(r->err, r->errlen,
				 "%s:%d: control byte 0x%02x: not a text file",
				 r->path, r->line, c);
			r->rc = -EINVAL;
			return NULL;
		}
	}
	memcpy(buf, r->pos, len);
	buf[len] = '\0';
	r->pos += len;
	return buf;
}

/* inih handler: returns nonzero to continue. */
static int on_ini_value(void *user, const char *section, const char *name,
			const char *value)
{
	struct ini_state *st = user;
	struct line_reader *r = st->reader;
	char why[256], text[64];

	if (r->rc < 0)
		return 0;
	if (section[0] && strcmp(section, "peercache") != 0) {
		snprintf(r->err, r->errlen, "%s:%d: unknown section [%s]",
			 r->path, r->line, shown(section, text, sizeof(text)));
		r->rc = -EINVAL;
		return 0;
	}
	if (pc_config_set(st->cfg, name, value, why, sizeof(why)) < 0) {
		snprintf(r->err, r->errlen, "%s:%d: %s", r->path, r->line, why);
		r->rc = -EINVAL;
		return 0;
	}
	return 1;
}

/* /dev/null reads as an empty file: "no configuration file". */
static bool is_dev_null(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3);
}

/*
 * The whole file at @path into a new buffer (caller frees): a regular file
 * of at most PC_CONFIG_FILE_MAX bytes, or /dev/null.  1 if it does not
 * exist; 0; or -errno with @err set.
 */
/* @fd (@path) is something a configuration may be read from: a regular
 * file of at most PC_CONFIG_FILE_MAX bytes, or /dev/null. */
static int check_kind(const char *path, int fd, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		return pc_set_err(-e, err, errlen, "%s: %s", path, strerror(e));
	}
	if (S_ISDIR(st.st_mode))
		return pc_set_err(-EISDIR, err, errlen,
				  "%s: is a directory, not a configuration "
				  "file",
				  path);
	if (!S_ISREG(st.st_mode) && !is_dev_null(&st))
		return pc_set_err(-EINVAL, err, errlen,
				  "%s: not a regular file (a configuration "
				  "file is read whole)",
				  path);
	if (st.st_size > PC_CONFIG_FILE_MAX)
		return pc_set_err(-EFBIG, err, errlen,
				  "%s: larger than %d bytes: not a "
				  "configuration file",
				  path, PC_CONFIG_FILE_MAX);
	return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *err,
		     size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;
	int rc = 0;

	*text = NULL;
	*len = 0;
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = check_kind(path, fd, err, errlen);
	if (rc == 0 && !(*text = malloc(PC_CONFIG_FILE_MAX + 1))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
	}
	/* Read up to one byte past the limit: a file that grows meanwhile
	 * is refused like a large one. */
	while (rc == 0 && *len <= PC_CONFIG_FILE_MAX &&
	       (n = read(fd, *text + *len, PC_CONFIG_FILE_MAX + 1 - *len)) !=
		       0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		} else {
			*len += (size_t)n;
		}
	}
	if (rc == 0 && *len > PC_CONFIG_FILE_MAX) {
		rc = -EFBIG;
		snprintf(err, errlen,
			 "%s: larger than %d bytes: not a configuration file",
			 path, PC_CONFIG_FILE_MAX);
	}
	close(fd);
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int pc_config_load_file(struct pc_config *cfg, const char *path,
			bool must_exist, char *err, size_t errlen)
{
	struct line_reader reader = { .path = path,
				      .err = err,
				      .errlen = errlen };
	struct ini_state st = { cfg, &reader };
	size_t len;
	char *text;
	int rc, line;

	rc = read_file(path, &text, &len, err, errlen);
	if (rc == 1 && !must_exist)
		return 0;
	if (rc == 1) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOENT));
		return -ENOENT;
	}
	if (rc < 0)
		return rc;
	reader.pos = text;
	reader.end = text + len;
	line = ini_parse_stream(read_line, &reader, on_ini_value, &st);
	free(text);
	if (reader.rc < 0)
		return reader.rc;
	if (line != 0) {
		snprintf(err, errlen,
			 "%s:%d: syntax error (expected KEY = VALUE "
			 "or [peercache])",
			 path, line);
		return -EINVAL;
	}
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

int pc_config_finish(struct pc_config *cfg, char *err, size_t errlen)
{
	int rc;

	if (cfg->nmirrors == 0) {
		snprintf(err, errlen, "mirror: at least one mirror is needed");
		return -EINVAL;
	}
	if (cfg->ntrusted_keys == 0) {
		snprintf(err, errlen,
			 "trusted_key: at least one trusted key is needed");
		return -EINVAL;
	}
	rc = check_low_speed(cfg, err, errlen);
	if (rc == 0)
		rc = check_mirror_serve(cfg, err, errlen);
	if (rc < 0)
		return rc;
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
	for (size_t i = 0; i < NKEYS; i++) {
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

	if (i >= sizeof(keys) / sizeof(keys[0]))
		return false;
	info->name = keys[i].name;
	info->fallback = keys[i].fallback;
	info->kind = kinds[keys[i].type];
	return true;
}
