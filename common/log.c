/*
 * log.c - the daemon's log (pc_log.h): one line format, journald
 * priorities, and the cause table behind "once per cause, rate-limited".
 *
 * The cause table is small and fixed: PC_LOG_CAUSES slots keyed by a
 * 64-bit FNV-1a hash of the cause text.  A slot remembers when its cause
 * was last logged at its own level and how many repeats were held back
 * since; a cause not in the table takes the slot logged least recently, so
 * a flood of distinct causes costs the oldest memories, never memory.  On
 * top of that a token bucket bounds the lines per second over all causes,
 * so that a problem that differs per chunk cannot flood the journal
 * either.  Everything held back still goes out at debug.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pc_log.h"

#define LINE_MAX_BYTES 1024

struct cause_slot {
	uint64_t hash;	      /* 0: empty */
	uint64_t last_logged; /* ms, at the cause's level */
	uint64_t held_back;   /* repeats since then */
	enum pc_log_level level;
};

static atomic_int threshold = PC_LOG_INFO;
static atomic_int journal = -1; /* -1: not decided yet */

/* Guards the cause table, the bucket, the sink and the clock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cause_slot causes[PC_LOG_CAUSES];
static double tokens = PC_LOG_BURST;
static uint64_t tokens_at;    /* ms of the last refill; 0: never */
static uint64_t rate_dropped; /* lines the bucket held back */
static pc_log_sink sink_fn;
static void *sink_arg;
static uint64_t (*clock_fn)(void);

static const char *const level_names[] = { "error", "warning", "info",
					   "debug" };
static const int priorities[] = { 3, 4, 6, 7 };

int pc_log_priority(enum pc_log_level level)
{
	return level <= PC_LOG_DEBUG ? priorities[level] : 7;
}

const char *pc_log_level_name(enum pc_log_level level)
{
	return level <= PC_LOG_DEBUG ? level_names[level] : "debug";
}

void pc_log_set_level(enum pc_log_level level)
{
	atomic_store(&threshold, (int)level);
}

enum pc_log_level pc_log_get_level(void)
{
	return (enum pc_log_level)atomic_load(&threshold);
}

void pc_log_set_journal(bool on)
{
	atomic_store(&journal, on ? 1 : 0);
}

void pc_log_set_sink(pc_log_sink sink, void *arg)
{
	pthread_mutex_lock(&lock);
	sink_fn = sink;
	sink_arg = arg;
	pthread_mutex_unlock(&lock);
}

void pc_log_set_clock(uint64_t (*now_ms)(void))
{
	pthread_mutex_lock(&lock);
	clock_fn = now_ms;
	pthread_mutex_unlock(&lock);
}

/* Under lock. */
static uint64_t now_ms_locked(void)
{
	struct timespec ts;

	if (clock_fn)
		return clock_fn();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool journal_on(void)
{
	int on = atomic_load(&journal);

	if (on < 0) {
		on = getenv("JOURNAL_STREAM") != NULL;
		atomic_store(&journal, on);
	}
	return on == 1;
}

void pc_log_write(enum pc_log_level level, const char *subsystem,
		  const char *line)
{
	struct timespec ts;
	pc_log_sink sink;
	void *arg;
	struct tm tm;
	char when[16];

	pthread_mutex_lock(&lock);
	sink = sink_fn;
	arg = sink_arg;
	pthread_mutex_unlock(&lock);
	if (sink) {
		sink(arg, level, subsystem, line);
		return;
	}
	if (journal_on()) { /* the journal adds its own timestamps */
		fprintf(stderr, "<%d>%s: %s\n", pc_log_priority(level),
			subsystem, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld peercache: %s: %s: %s\n", when,
		ts.tv_nsec / 1000000L, subsystem, pc_log_level_name(level),
		line);
}

void pc_vlog(enum pc_log_level level, const char *subsystem, const char *fmt,
	     va_list ap)
{
	char line[LINE_MAX_BYTES];

	if ((int)level > atomic_load(&threshold))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	pc_log_write(level, subsystem, line);
}

void pc_log(enum pc_log_level level, const char *subsystem, const char *fmt,
	    ...)
{
	va_list ap;

	va_start(ap, fmt);
	pc_vlog(level, subsystem, fmt, ap);
	va_end(ap);
}

/* ---- once per cause ---------------------------------------------------------- */

static uint64_t cause_hash(const char *cause)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *cause; cause++) {
		h ^= (unsigned char)*cause;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

/* Under lock: the slot of @hash, or the one to reuse for it. */
static struct cause_slot *find_slot(uint64_t hash, bool *found)
{
	struct cause_slot *oldest = &causes[0];

	for (size_t i = 0; i < PC_LOG_CAUSES; i++) {
		if (causes[i].hash == hash) {
			*found = true;
			return &causes[i];
		}
		if (causes[i].hash == 0 ||
		    (oldest->hash &&
		     causes[i].last_logged < oldest->last_logged))
			oldest = &causes[i];
	}
	*found = false;
	return oldest;
}

/* Under lock: one line may go out now (the bucket over all causes). */
static bool take_token(uint64_t now)
{
	if (tokens_at == 0)
		tokens_at = now;
	tokens += (double)(now - tokens_at) * PC_LOG_RATE / 1000.0;
	tokens_at = now;
	if (tokens > PC_LOG_BURST)
		tokens = PC_LOG_BURST;
	if (tokens < 1.0) {
		rate_dropped++;
		return false;
	}
	tokens -= 1.0;
	return true;
}

/*
 * Under lock: whether @cause goes out at its level now; if so, @held is
 * the count of repeats held back since it last did, and @dropped the
 * lines the bucket held back over all causes.
 */
static bool cause_due(enum pc_log_level level, const char *cause,
		      uint64_t *held, uint64_t *dropped)
{
	uint64_t now = now_ms_locked(), hash = cause_hash(cause);
	bool found;
	struct cause_slot *slot = find_slot(hash, &found);

	if (found && slot->level <= level &&
	    now - slot->last_logged < (uint64_t)PC_LOG_REPEAT_S * 1000) {
		slot->held_back++;
		return false;
	}
	if (!take_token(now)) {
		if (found)
			slot->held_back++;
		return false;
	}
	*held = found ? slot->held_back : 0;
	*dropped = rate_dropped;
	rate_dropped = 0;
	slot->hash = hash;
	slot->last_logged = now;
	slot->held_back = 0;
	slot->level = level;
	return true;
}

bool pc_vlog_cause(enum pc_log_level level, const char *subsystem,
		   const char *cause, const char *fmt, va_list ap)
{
	char line[LINE_MAX_BYTES];
	uint64_t held = 0, dropped = 0;
	size_t len;
	bool due;

	if ((int)level > atomic_load(&threshold))
		return false;
	pthread_mutex_lock(&lock);
	due = cause_due(level, cause, &held, &dropped);
	pthread_mutex_unlock(&lock);
	if (!due && atomic_load(&threshold) < PC_LOG_DEBUG)
		return false;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	if (due && held && len < sizeof(line))
		snprintf(line + len, sizeof(line) - len,
			 " (%llu times since it was last logged)",
			 (unsigned long long)held);
	pc_log_write(due ? level : PC_LOG_DEBUG, subsystem, line);
	if (dropped)
		pc_log(level, "log",
		       "%llu lines about other problems were held back (more "
		       "than %d a second)",
		       (unsigned long long)dropped, PC_LOG_RATE);
	return due;
}

bool pc_log_cause(enum pc_log_level level, const char *subsystem,
		  const char *cause, const char *fmt, ...)
{
	va_list ap;
	bool due;

	va_start(ap, fmt);
	due = pc_vlog_cause(level, subsystem, cause, fmt, ap);
	va_end(ap);
	return due;
}

bool pc_log_cause_clear(const char *cause)
{
	uint64_t hash = cause_hash(cause);
	bool found = false;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < PC_LOG_CAUSES && !found; i++)
		if (causes[i].hash == hash) {
			memset(&causes[i], 0, sizeof(causes[i]));
			found = true;
		}
	pthread_mutex_unlock(&lock);
	return found;
}

void pc_log_causes_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(causes, 0, sizeof(causes));
	tokens = PC_LOG_BURST;
	tokens_at = 0;
	rate_dropped = 0;
	pthread_mutex_unlock(&lock);
}
