/*
 * pc_log.h - the daemon's log: levels, their journald priorities, one line
 * format, and "once per cause, rate-limited" for problems that repeat.
 *
 * Lines go to stderr.  Under systemd (JOURNAL_STREAM set) each line starts
 * with "<N>", the syslog priority of its level, so that journald files it
 * under that priority and `journalctl -p warning` shows every problem;
 * otherwise a line reads "HH:MM:SS.mmm peercache: SUBSYSTEM: LEVEL: text".
 *
 * The rule of the project: everything that makes a read fail or a source
 * be skipped is a warning (or an error), logged once per cause and then
 * at most once per PC_LOG_REPEAT_S while the cause lasts, with the count
 * of repeats held back; info is the normal story.  pc_log_cause() is that
 * rule; the repeats it holds back still go out at debug.
 *
 * Thread-safe: the threshold is an atomic, the cause table has a mutex,
 * and each line is written with one stdio call (stderr is unbuffered and
 * locks per call).
 */
#ifndef PC_LOG_H
#define PC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum pc_log_level {
	PC_LOG_ERROR,
	PC_LOG_WARN,
	PC_LOG_INFO,
	PC_LOG_DEBUG
};

/* A repeated cause is logged again at most this often. */
#define PC_LOG_REPEAT_S 600
/* Causes remembered at once (the least recently logged one goes). */
#define PC_LOG_CAUSES 256
/* Lines of pc_log_cause() per second, over all causes (a burst of
 * PC_LOG_BURST first); more are held back and counted. */
#define PC_LOG_RATE 10
#define PC_LOG_BURST 50

/* syslog/journald priority of @level: 3, 4, 6, 7. */
int pc_log_priority(enum pc_log_level level);
/* "error", "warning", "info", "debug". */
const char *pc_log_level_name(enum pc_log_level level);

/* Lines above @threshold are dropped (default PC_LOG_INFO).  Any thread. */
void pc_log_set_level(enum pc_log_level threshold);
enum pc_log_level pc_log_get_level(void);
/* "<N>" prefixes (journald) instead of timestamps; set from JOURNAL_STREAM
 * at the first line unless called before. */
void pc_log_set_journal(bool journal);

/* One line from @subsystem ("net", "store", "config") at @level. */
void pc_log(enum pc_log_level level, const char *subsystem, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
void pc_vlog(enum pc_log_level level, const char *subsystem, const char *fmt,
	     va_list ap);
/* @line as it is, with no threshold check (callers that filter by a
 * threshold of their own). */
void pc_log_write(enum pc_log_level level, const char *subsystem,
		  const char *line);

/*
 * Once per cause: @cause names the problem ("mirror-slow http://m1", the
 * same text each time it happens); the line is logged at @level the first
 * time, then at most once per PC_LOG_REPEAT_S (saying how many repeats
 * were held back meanwhile), and at debug in between.  Returns true if the
 * line went out at @level.  @cause is compared by a 64-bit hash.
 */
bool pc_log_cause(enum pc_log_level level, const char *subsystem,
		  const char *cause, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool pc_vlog_cause(enum pc_log_level level, const char *subsystem,
		   const char *cause, const char *fmt, va_list ap);
/* The cause is over (the mirror answers again): forgotten, so that it is
 * logged at once if it comes back.  Returns true if it was known (the
 * caller may then log the recovery at info). */
bool pc_log_cause_clear(const char *cause);
/* Forgets every cause and the rate budget (tests). */
void pc_log_causes_reset(void);

/* Where lines go instead of stderr (NULL: stderr again): @line is the
 * message without prefix.  For tests, and later for journald's native
 * protocol.  Set before other threads log. */
typedef void (*pc_log_sink)(void *arg, enum pc_log_level level,
			    const char *subsystem, const char *line);
void pc_log_set_sink(pc_log_sink sink, void *arg);
/* The clock of the rate limits, in milliseconds (NULL: CLOCK_MONOTONIC).
 * For tests. */
void pc_log_set_clock(uint64_t (*now_ms)(void));

#endif /* PC_LOG_H */
