/*
 * print.c - the daemon's answers laid out for a person, and the exit code
 * each implies.  The same functions print what offline.c reads from the
 * cache index when the daemon is down, so both look alike.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "pc_util.h"

const char *ctl_ago(int64_t when, char *buf, size_t len)
{
	int64_t secs = time(NULL) - when;

	if (when <= 0)
		snprintf(buf, len, "never");
	else if (secs < 120)
		snprintf(buf, len, "%lld s ago", (long long)secs);
	else if (secs < 7200)
		snprintf(buf, len, "%lld min ago", (long long)(secs / 60));
	else if (secs < 172800)
		snprintf(buf, len, "%lld h ago", (long long)(secs / 3600));
	else
		snprintf(buf, len, "%lld days ago", (long long)(secs / 86400));
	return buf;
}

const char *ctl_duration(int64_t seconds, char *buf, size_t len)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 120)
		snprintf(buf, len, "%lld s", (long long)seconds);
	else if (seconds < 7200)
		snprintf(buf, len, "%lld min", (long long)(seconds / 60));
	else if (seconds < 172800)
		snprintf(buf, len, "%lld h %lld min",
			 (long long)(seconds / 3600),
			 (long long)(seconds % 3600 / 60));
	else
		snprintf(buf, len, "%lld days %lld h",
			 (long long)(seconds / 86400),
			 (long long)(seconds % 86400 / 3600));
	return buf;
}

/* When @when is, in UTC ("-" for never). */
static const char *utc(int64_t when, char *buf, size_t len)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (when <= 0 || !gmtime_r(&t, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

static const char *text_or(const struct json_object *o, const char *key,
			   const char *fallback)
{
	const char *v = json_get(o, key);

	return v && *v ? v : fallback;
}

int ctl_status_exit(const struct json_object *o)
{
	const char *state = text_or(o, "status", "unknown");

	if (strcmp(state, "up_to_date") == 0)
		return EXIT_OK;
	if (strcmp(state, "offline") == 0)
		return EXIT_FAILED;
	if (strcmp(state, "degraded") == 0)
		return EXIT_PROBLEMS;
	return strcmp(state, "stale") == 0 ? EXIT_STALE : EXIT_NOT_CURRENT;
}

static void print_hold(const struct json_object *o)
{
	int64_t held = json_get_int(o, "held_version", 0);
	int64_t available = json_get_int(o, "available_version", 0);

	if (!json_get_bool(o, "held"))
		return;
	printf("held:        version %lld (peercachectl rollback)",
	       (long long)held);
	if (available > held)
		printf("; unpin returns to version %lld", (long long)available);
	printf("\n");
}

/* One line per source: its state and what it did (status "sources"). */
static void print_sources(const struct json_object *o)
{
	const struct json_field *f = json_get_field(o, "sources");
	char a[64], b[64];

	for (size_t i = 0; f && i < f->nitems; i++) {
		struct json_object src;
		const char *state;

		if (json_parse_object(f->items[i], &src) < 0)
			continue;
		state = text_or(&src, "state", "ok");
		printf("%-13s%s: %s",
		       i ? "" : "sources:", text_or(&src, "source", "?"),
		       state);
		if (strcmp(state, "ok") != 0) {
			printf(" (%s since %s",
			       text_or(&src, "trouble", "trouble"),
			       utc(json_get_int(&src, "since", 0), a,
				   sizeof(a)));
			if (json_get_int(&src, "demoted_until", 0) > 0)
				printf(", tried last until %s",
				       utc(json_get_int(&src, "demoted_until",
							0),
					   b, sizeof(b)));
			printf(")");
		}
		printf("; %lld ok, %lld bad chunks, %lld slow, %lld failed",
		       (long long)json_get_int(&src, "ok", 0),
		       (long long)json_get_int(&src, "bad_chunks", 0),
		       (long long)json_get_int(&src, "slow", 0),
		       (long long)json_get_int(&src, "failures", 0));
		if (strcmp(state, "ok") != 0 &&
		    text_or(&src, "last_error", NULL))
			printf("; last: %s", text_or(&src, "last_error", ""));
		printf("\n");
		json_free(&src);
	}
}

/* Reads that failed, and heads refused as equivocation. */
static void print_alerts(const struct json_object *o)
{
	int64_t reads = json_get_int(o, "read_failures", 0);
	char a[64];

	if (reads > 0)
		printf("reads:       %lld failed since the daemon started, the "
		       "last %s: %s\n",
		       (long long)reads,
		       ctl_ago(json_get_int(o, "last_read_failure", 0), a,
			       sizeof(a)),
		       text_or(o, "last_read_error", "?"));
	if (json_get_int(o, "equivocations", 0) > 0)
		printf("EQUIVOCATION: %lld heads refused, the last %s: %s\n",
		       (long long)json_get_int(o, "equivocations", 0),
		       ctl_ago(json_get_int(o, "equivocation_at", 0), a,
			       sizeof(a)),
		       text_or(o, "equivocation", "?"));
}

static int print_one_status(const struct json_object *o);

/*
 * A daemon of several repositories asked about none: the worst status,
 * then each repository's status under its name.  The exit code is the
 * worst's.
 */
static int print_every_status(const struct json_object *o,
			      const struct json_field *repos)
{
	struct json_object one;
	char a[64];

	printf("status:      %s (the worst of %zu repositories)\n",
	       text_or(o, "status", "unknown"), repos->nitems);
	if (json_get_int(o, "started", 0) > 0)
		printf("daemon:      running for %s\n",
		       ctl_duration(time(NULL) - json_get_int(o, "started", 0),
				    a, sizeof(a)));
	for (size_t i = 0; i < repos->nitems; i++) {
		if (json_parse_object(repos->items[i], &one) < 0)
			continue;
		printf("\n[repository %s]\n", text_or(&one, "name", "?"));
		print_one_status(&one);
		json_free(&one);
	}
	return ctl_status_exit(o);
}

int ctl_print_status(const struct json_object *o)
{
	const struct json_field *repos = json_get_field(o, "repositories");

	if (!json_get(o, "repository") && repos && repos->is_array)
		return print_every_status(o, repos);
	return print_one_status(o);
}

static int print_one_status(const struct json_object *o)
{
	const char *state = text_or(o, "status", "unknown");
	bool offline = strcmp(state, "offline") == 0;
	int64_t ok = json_get_int(o, "last_poll_ok", 0);
	char a[64], b[64], c[64];

	printf("repository:  %s\n", text_or(o, "repository", "(none yet)"));
	printf("version:     %lld (published %s, accepted %s)\n",
	       (long long)json_get_int(o, "version", 0),
	       ctl_ago(json_get_int(o, "published", 0), a, sizeof(a)),
	       ctl_ago(json_get_int(o, "accepted", 0), b, sizeof(b)));
	printf("expires:     %s\n",
	       utc(json_get_int(o, "expires", 0), a, sizeof(a)));
	printf("status:      %s\n", state);
	if (text_or(o, "reason", NULL))
		printf("reason:      %s\n", text_or(o, "reason", ""));
	print_hold(o);
	if (offline) {
		printf("daemon:      not running: read from the cache index "
		       "(read-only)\n");
		if (json_get(o, "mirrors"))
			printf("mirrors:     %s\n", text_or(o, "mirrors", "-"));
		return ctl_status_exit(o);
	}
	if (ok > 0)
		snprintf(c, sizeof(c), "%lld min ago",
			 (long long)((time(NULL) - ok) / 60));
	else
		snprintf(c, sizeof(c), "never");
	printf("last poll:   %s; last successful: %s\n",
	       ctl_ago(json_get_int(o, "last_poll", 0), a, sizeof(a)), c);
	printf("source:      %s\n", text_or(o, "source", "-"));
	printf("mirrors:     %s\n", text_or(o, "mirrors", "-"));
	print_sources(o);
	print_alerts(o);
	if (json_get_int(o, "started", 0) > 0)
		printf("daemon:      running for %s\n",
		       ctl_duration(time(NULL) - json_get_int(o, "started", 0),
				    a, sizeof(a)));
	return ctl_status_exit(o);
}

static const char *size_of(const struct json_object *o, const char *key,
			   char *buf, size_t len)
{
	return pc_format_size((uint64_t)json_get_int(o, key, 0), buf, len);
}

static void print_bytes(const char *label, const struct json_object *o,
			const char *key)
{
	char buf[32];

	printf("%-19s %s\n", label, size_of(o, key, buf, sizeof(buf)));
}

static double percent(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_cache(const struct json_object *o)
{
	int64_t used = json_get_int(o, "cache_bytes", 0);
	int64_t quota = json_get_int(o, "quota", 0);
	char buf[32], q[32];

	printf("cache:              %s in %lld chunks",
	       size_of(o, "cache_bytes", buf, sizeof(buf)),
	       (long long)json_get_int(o, "chunks", 0));
	if (quota > 0)
		printf(", quota %s (%.1f%% used)\n",
		       pc_format_size((uint64_t)quota, q, sizeof(q)),
		       percent(used, quota));
	else if (json_get(o, "quota"))
		printf(", no quota\n");
	else
		printf(", quota unknown (give -c CONFIG)\n");
}

/* Each repository's version and status, when the daemon serves several. */
static void print_repositories(const struct json_object *o)
{
	const struct json_field *repos = json_get_field(o, "repositories");
	struct json_object one;

	if (!repos || !repos->is_array || repos->nitems < 2)
		return;
	for (size_t i = 0; i < repos->nitems; i++) {
		if (json_parse_object(repos->items[i], &one) < 0)
			continue;
		printf("repository %-8s version %lld, %s\n",
		       text_or(&one, "name", "?"),
		       (long long)json_get_int(&one, "version", 0),
		       text_or(&one, "status", "unknown"));
		json_free(&one);
	}
}

int ctl_print_stats(const struct json_object *o)
{
	int64_t hits = json_get_int(o, "hits", 0);
	int64_t misses = json_get_int(o, "misses", 0);
	int64_t from_cache = json_get_int(o, "bytes_from_cache", 0);
	int64_t from_mirror = json_get_int(o, "bytes_from_mirror", 0);
	int64_t from_peers = json_get_int(o, "bytes_from_peers", 0);
	int64_t total = from_cache + from_mirror + from_peers;
	char buf[32], buf2[32];

	if (strcmp(text_or(o, "daemon", ""), "offline") == 0)
		printf("daemon:             not running: read from the cache "
		       "index (read-only)\n");
	else
		printf("daemon:             running for %s\n",
		       ctl_duration(json_get_int(o, "uptime", 0), buf,
				    sizeof(buf)));
	printf("status:             %s\n", text_or(o, "status", "unknown"));
	printf("version:            %lld\n",
	       (long long)json_get_int(o, "version", 0));
	print_cache(o);
	printf("reads:              %lld hits, %lld misses (%.1f%% hit "
	       "rate)\n",
	       (long long)hits, (long long)misses,
	       percent(hits, hits + misses));
	printf("passthrough:        %lld opens of cached files read by the "
	       "kernel itself\n",
	       (long long)json_get_int(o, "passthrough_opens", 0));
	print_bytes("from cache:", o, "bytes_from_cache");
	print_bytes("from peers:", o, "bytes_from_peers");
	print_bytes("from mirror:", o, "bytes_from_mirror");
	printf("served to peers:    %s in %lld chunks\n",
	       size_of(o, "bytes_served_peers", buf, sizeof(buf)),
	       (long long)json_get_int(o, "chunks_served_peers", 0));
	printf("bandwidth saved:    %.1f%% not fetched from the mirror\n",
	       percent(total - from_mirror, total));
	printf("purged:             %lld chunks, %s\n",
	       (long long)json_get_int(o, "purged_chunks", 0),
	       size_of(o, "purged_bytes", buf2, sizeof(buf2)));
	printf("bad chunks:         %lld from mirrors, %lld from peers "
	       "(rejected)\n",
	       (long long)json_get_int(o, "bad_from_mirror", 0),
	       (long long)json_get_int(o, "bad_from_peers", 0));
	print_repositories(o);
	return EXIT_OK;
}

int ctl_print_refresh(const struct json_object *o)
{
	const char *result = text_or(o, "result", "error");

	if (strcmp(result, "ok") == 0) {
		printf("ok: version %lld (%s)\n",
		       (long long)json_get_int(o, "version", 0),
		       text_or(o, "status", "unknown"));
		return EXIT_OK;
	}
	if (strcmp(result, "pending") == 0) {
		printf("refresh: %s\n", text_or(o, "error", "still running"));
		return EXIT_NOT_CURRENT;
	}
	printf("refresh failed: %s\n", text_or(o, "error", "unknown error"));
	return EXIT_FAILED;
}

int ctl_print_restart(const struct json_object *o)
{
	printf("restarted: pid %lld (peercache %s) serves the mount now; "
	       "requests waited %lld ms\n",
	       (long long)json_get_int(o, "pid", 0), text_or(o, "version", "?"),
	       (long long)json_get_int(o, "paused_ms", 0));
	return EXIT_OK;
}

int ctl_print_purge(const struct json_object *o)
{
	char a[32], b[32];

	printf("purged %lld chunks (%s); kept %lld pinned and %lld of the "
	       "retained versions\n",
	       (long long)json_get_int(o, "purged_chunks", 0),
	       size_of(o, "purged_bytes", a, sizeof(a)),
	       (long long)json_get_int(o, "kept_pinned", 0),
	       (long long)json_get_int(o, "kept_retained", 0));
	printf("cache now %s in %lld chunks\n",
	       size_of(o, "cache_bytes", b, sizeof(b)),
	       (long long)json_get_int(o, "chunks", 0));
	return EXIT_OK;
}

int ctl_print_verify(const struct json_object *o)
{
	int64_t bad = json_get_int(o, "bad", 0);
	char a[32], b[32];

	printf("checked %lld chunks (%s): %lld bad",
	       (long long)json_get_int(o, "checked", 0),
	       size_of(o, "bytes", a, sizeof(a)), (long long)bad);
	if (bad)
		printf(" (%s), removed: the next read fetches them again",
		       size_of(o, "bad_bytes", b, sizeof(b)));
	printf("\n");
	return bad ? EXIT_PROBLEMS : EXIT_OK;
}

int ctl_print_prefetch(const struct json_object *o)
{
	int64_t ms = json_get_int(o, "milliseconds", 0);
	char a[32];

	printf("version %lld: %lld files, %lld chunks (%s): %lld were "
	       "cached, %lld fetched in %lld.%03lld s\n",
	       (long long)json_get_int(o, "version", 0),
	       (long long)json_get_int(o, "files", 0),
	       (long long)json_get_int(o, "chunks", 0),
	       size_of(o, "bytes", a, sizeof(a)),
	       (long long)json_get_int(o, "cached", 0),
	       (long long)json_get_int(o, "fetched", 0), (long long)(ms / 1000),
	       (long long)(ms % 1000));
	return EXIT_OK;
}

/* rollback and unpin. */
int ctl_print_switch(const char *command, const struct json_object *o)
{
	int64_t version = json_get_int(o, "version", 0);
	int64_t available = json_get_int(o, "available_version", 0);

	if (strcmp(command, "rollback") == 0) {
		printf("rolled back: version %lld is served and held",
		       (long long)version);
		if (available > version)
			printf(" (peercachectl unpin returns to version %lld)",
			       (long long)available);
		printf("\n");
	} else {
		printf("not held: version %lld is served\n",
		       (long long)version);
		if (text_or(o, "poll_error", NULL))
			printf("but the poll for a newer version failed: %s\n",
			       text_or(o, "poll_error", ""));
	}
	return EXIT_OK;
}

/* The end of the JSON object that starts at @p ('{'), or NULL. */
static const char *object_end(const char *p)
{
	int depth = 0;
	bool in_string = false;

	for (; *p; p++) {
		if (in_string) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_string = false;
		} else if (*p == '"') {
			in_string = true;
		} else if (*p == '{') {
			depth++;
		} else if (*p == '}' && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

/* `peers`: one line per neighbour, from the raw answer (an array of
 * objects, which the flat reader does not keep). */
int ctl_print_peers(const char *raw)
{
	const char *p = strstr(raw, "\"peers\":[");
	size_t n = 0;

	if (!p) {
		fprintf(stderr, "peercachectl: unreadable answer: %s\n", raw);
		return EXIT_FAILED;
	}
	printf("%-21s %-12s %8s %10s %5s  %s\n", "peer", "last seen", "chunks",
	       "bytes", "bad", "state");
	for (p = strchr(p, '['); (p = strchr(p, '{')) != NULL; n++) {
		const char *end = object_end(p);
		struct json_object o;
		char *text, when[32], size[32], addr[32];

		if (!end)
			break;
		text = strndup(p, (size_t)(end - p));
		p = end;
		if (!text || json_parse_object(text, &o) < 0) {
			free(text);
			break;
		}
		snprintf(addr, sizeof(addr), "%s:%lld",
			 text_or(&o, "address", "?"),
			 (long long)json_get_int(&o, "http_port", 0));
		printf("%-21s %-12s %8lld %10s %5lld  ", addr,
		       ctl_ago(json_get_int(&o, "last_seen", 0), when,
			       sizeof(when)),
		       (long long)json_get_int(&o, "chunks", 0),
		       size_of(&o, "bytes", size, sizeof(size)),
		       (long long)json_get_int(&o, "bad", 0));
		if (json_get_bool(&o, "banned"))
			printf("banned (%s)\n", text_or(&o, "reason", "?"));
		else if (json_get_bool(&o, "doubted"))
			printf("doubted for %s more (%s)\n",
			       ctl_duration(
				       json_get_int(&o, "doubted_until", 0) -
					       time(NULL),
				       when, sizeof(when)),
			       text_or(&o, "doubt_reason", "?"));
		else if (json_get_bool(&o, "claims_doubted"))
			printf("claims doubted for %s more (%s)\n",
			       ctl_duration(json_get_int(&o,
							 "claims_doubted_until",
							 0) -
						    time(NULL),
					    when, sizeof(when)),
			       text_or(&o, "claims_doubt_reason", "?"));
		else
			printf("ok\n");
		json_free(&o);
		free(text);
	}
	if (n == 0)
		printf("(no peer heard yet)\n");
	return EXIT_OK;
}
