/*
 * pc_util.h - small helpers every module and tool shares: parsing the
 * human units that appear in configs and flags, printing sizes, and a
 * monotonic clock.  No dependencies beyond libc.
 */
#ifndef PC_UTIL_H
#define PC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The one way a reason is written into a caller's error buffer: vsnprintf
 * into @err (which may be NULL); returns @code, so that a failure is
 * `return pc_set_err(-EINVAL, err, errlen, "...", ...);`. */
int pc_set_err(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "90", "90s", "15m", "12h", "7d", "2w" -> seconds.  0 or -EINVAL. */
int pc_parse_duration(const char *text, uint64_t *seconds);
/* "4096", "512K", "512M", "5G", "1T" (binary units, optional trailing
 * "B" or "iB") -> bytes.  0 or -EINVAL. */
int pc_parse_size(const char *text, uint64_t *bytes);
/* "1.5 MiB" style into @buf; returns @buf. */
const char *pc_format_size(uint64_t bytes, char *buf, size_t len);
/* @when (Unix seconds) as "2026-12-06T22:05:00Z" into @buf (32 bytes
 * suffice), or as its number if gmtime() knows no such date (a signed
 * head may say anything).  Returns @buf. */
const char *pc_format_utc(int64_t when, char *buf, size_t len);
/* CLOCK_MONOTONIC in seconds, as a double (for durations and rates). */
double pc_now_monotonic(void);
/* CLOCK_MONOTONIC in nanoseconds: deadlines and what one process tells
 * another (one clock for the whole machine).  Divide for ms. */
int64_t pc_monotonic_ns(void);

/* The one rule of repository names (a signed head's, a [repository NAME]
 * section's): 1 to PC_REPO_NAME_MAX characters of A-Z a-z 0-9 . _ -, not
 * starting with '.'.  @name need not be NUL-terminated. */
#define PC_REPO_NAME_MAX 64
bool pc_repo_name_valid_len(const char *name, size_t len);

#endif
