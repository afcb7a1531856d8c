/*
 * util.c - unit parsing and formatting shared by the daemon and the tools,
 * and the one helper that writes a reason into an error buffer.
 * Parsers are strict: a value with trailing garbage is an error, never a
 * silently truncated number.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pc_util.h"

int pc_set_err(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *pc_format_utc(int64_t when, char *buf, size_t len)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%" PRId64, when);
	return buf;
}

/* Leading unsigned decimal; sets *rest to what follows.  -EINVAL if none. */
static int leading_number(const char *text, uint64_t *value, const char **rest)
{
	char *end;

	if (!text || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	*value = strtoull(text, &end, 10);
	if (errno)
		return -EINVAL;
	*rest = end;
	return 0;
}

static int scaled(uint64_t value, uint64_t unit, uint64_t *out)
{
	if (unit && value > UINT64_MAX / unit)
		return -EINVAL;
	*out = value * unit;
	return 0;
}

int pc_parse_duration(const char *text, uint64_t *seconds)
{
	static const struct {
		const char *suffix;
		uint64_t unit;
	} units[] = { { "", 1 },     { "s", 1 },     { "m", 60 },
		      { "h", 3600 }, { "d", 86400 }, { "w", 604800 } };
	const char *rest;
	uint64_t value;

	if (leading_number(text, &value, &rest) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(rest, units[i].suffix) == 0)
			return scaled(value, units[i].unit, seconds);
	return -EINVAL;
}

int pc_parse_size(const char *text, uint64_t *bytes)
{
	static const char letters[] = "KMGT";
	const char *rest, *letter;
	uint64_t value, unit = 1;

	if (leading_number(text, &value, &rest) < 0)
		return -EINVAL;
	if (*rest) {
		/* Only a letter may follow: strchr() would match the NUL a
		 * masked space turns into. */
		if (!((rest[0] >= 'a' && rest[0] <= 'z') ||
		      (rest[0] >= 'A' && rest[0] <= 'Z')))
			return -EINVAL;
		letter = strchr(letters, rest[0] & ~0x20);
		if (!letter)
			return -EINVAL;
		for (const char *l = letters; l <= letter; l++)
			unit *= 1024;
		rest++;
		if (*rest && strcasecmp(rest, "B") != 0 &&
		    strcasecmp(rest, "iB") != 0)
			return -EINVAL;
	}
	return scaled(value, unit, bytes);
}

const char *pc_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double value = (double)bytes;
	size_t i = 0;

	while (value >= 1024 && i + 1 < sizeof(names) / sizeof(names[0])) {
		value /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", value, names[i]);
	return buf;
}

double pc_now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t pc_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool pc_repo_name_valid_len(const char *name, size_t len)
{
	if (len == 0 || len > PC_REPO_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}
