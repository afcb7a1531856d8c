/*
 * main.c - peercachectl: ask a running peercache how it is doing.
 *
 * It speaks the control socket protocol (docs/CONTROL.md): one command
 * line out, one JSON object back.  --json prints that object as it came;
 * otherwise it is laid out for a person.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "pc_config.h"
#include "pc_util.h"

#define REPLY_MAX (1 << 20)

enum exit_code {
	EXIT_OK = 0,	 /* done; status: up to date */
	EXIT_FAILED = 1, /* the daemon could not be asked, or refused */
	EXIT_USAGE = 2,
	EXIT_STALE = 3,	      /* status: serving an expired version */
	EXIT_NOT_CURRENT = 4, /* status: failing or not started */
};

static const char usage_text[] =
	"usage: peercachectl [--socket PATH | --cache-dir DIR] [--json] "
	"COMMAND\n"
	"\n"
	"Commands:\n"
	"  status    version, age, up_to_date / stale / failing, last error,\n"
	"            the mirror in use\n"
	"  stats     cache use, hits and misses, bytes from cache / peers /\n"
	"            mirror\n"
	"  peers     LAN peers heard, what each gave, bans and why\n"
	"  refresh   check the mirrors for a new version now and switch to it\n"
	"\n"
	"  --socket PATH    the daemon's control socket\n"
	"  --cache-dir DIR  use DIR/control.sock (default " PC_DEFAULT_CACHE_DIR
	")\n"
	"  --json           print the daemon's JSON answer unchanged\n"
	"\n"
	"Exit status: 0 ok (status: up to date), 1 the daemon could not be\n"
	"reached or the command failed, 2 usage, 3 status: stale, 4 status:\n"
	"failing or starting.\n";

/* Sends @command and reads the answer until EOF, within @timeout_ms. */
static int ask(const char *socket_path, const char *command, int timeout_ms,
	       char **reply)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t len = 0, cap = 4096;
	char line[64];
	double deadline = pc_now_monotonic() + timeout_ms / 1000.0;
	char *buf;
	int fd, rc = 0;

	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	snprintf(line, sizeof(line), "%s\n", command);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		close(fd);
		return -EIO;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = (int)((deadline - pc_now_monotonic()) * 1000);
		ssize_t n;

		if (wait <= 0 || poll(&pfd, 1, wait) <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (len + 1 == cap) {
			char *grown =
				cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!grown) {
				rc = -EFBIG;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (rc == 0 && len == 0)
		rc = -ECONNRESET;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*reply = buf;
	return 0;
}

static const char *ago(int64_t when, char *buf, size_t len)
{
	int64_t secs = time(NULL) - when;

	if (when <= 0)
		snprintf(buf, len, "never");
	else if (secs < 120)
		snprintf(buf, len, "%" PRId64 " s ago", secs);
	else if (secs < 7200)
		snprintf(buf, len, "%" PRId64 " min ago", secs / 60);
	else if (secs < 172800)
		snprintf(buf, len, "%" PRId64 " h ago", secs / 3600);
	else
		snprintf(buf, len, "%" PRId64 " days ago", secs / 86400);
	return buf;
}

static const char *text_or(const struct json_object *o, const char *key,
			   const char *fallback)
{
	const char *v = json_get(o, key);

	return v && *v ? v : fallback;
}

/* The exit code of `status`, for scripts. */
static int status_exit(const struct json_object *o)
{
	const char *state = text_or(o, "status", "unknown");

	if (strcmp(state, "up_to_date") == 0)
		return EXIT_OK;
	return strcmp(state, "stale") == 0 ? EXIT_STALE : EXIT_NOT_CURRENT;
}

static int print_status(const struct json_object *o)
{
	const char *state = text_or(o, "status", "unknown");
	char a[64], b[64], c[64];

	printf("repository:  %s\n", text_or(o, "repository", "(none yet)"));
	printf("version:     %" PRId64 " (published %s, accepted %s)\n",
	       json_get_int(o, "version", 0),
	       ago(json_get_int(o, "published", 0), a, sizeof(a)),
	       ago(json_get_int(o, "accepted", 0), b, sizeof(b)));
	printf("status:      %s\n", state);
	printf("last error:  %s\n", text_or(o, "last_error", "none"));
	printf("last check:  %s (last successful: %s)\n",
	       ago(json_get_int(o, "last_poll", 0), a, sizeof(a)),
	       ago(json_get_int(o, "last_poll_ok", 0), c, sizeof(c)));
	printf("source:      %s\n", text_or(o, "source", "-"));
	printf("mirrors:     %s\n", text_or(o, "mirrors", "-"));
	return status_exit(o);
}

static void print_bytes(const char *label, const struct json_object *o,
			const char *key)
{
	char buf[32];

	printf("%-19s %s\n", label,
	       pc_format_size((uint64_t)json_get_int(o, key, 0), buf,
			      sizeof(buf)));
}

static int print_stats(const struct json_object *o)
{
	int64_t hits = json_get_int(o, "hits", 0);
	int64_t misses = json_get_int(o, "misses", 0);
	int64_t from_cache = json_get_int(o, "bytes_from_cache", 0);
	int64_t from_mirror = json_get_int(o, "bytes_from_mirror", 0);
	int64_t from_peers = json_get_int(o, "bytes_from_peers", 0);
	int64_t total = from_cache + from_mirror + from_peers;
	char buf[32];

	printf("version:            %" PRId64 "\n",
	       json_get_int(o, "version", 0));
	printf("cache:              %s in %" PRId64 " chunks\n",
	       pc_format_size((uint64_t)json_get_int(o, "cache_bytes", 0), buf,
			      sizeof(buf)),
	       json_get_int(o, "chunks", 0));
	printf("reads:              %lld hits, %lld misses (%.1f%% hit rate)\n",
	       (long long)hits, (long long)misses,
	       hits + misses ? 100.0 * (double)hits / (double)(hits + misses)
			     : 0.0);
	print_bytes("from cache:", o, "bytes_from_cache");
	print_bytes("from peers:", o, "bytes_from_peers");
	print_bytes("from mirror:", o, "bytes_from_mirror");
	print_bytes("served to peers:", o, "bytes_served_peers");
	printf("bandwidth saved:    %.1f%% not fetched from the mirror\n",
	       total ? 100.0 * (double)(total - from_mirror) / (double)total
		     : 0.0);
	printf("bad chunks:         %lld from mirrors, %lld from peers\n",
	       (long long)json_get_int(o, "bad_from_mirror", 0),
	       (long long)json_get_int(o, "bad_from_peers", 0));
	return EXIT_OK;
}

static int print_refresh(const struct json_object *o)
{
	const char *result = text_or(o, "result", "error");

	if (strcmp(result, "ok") == 0) {
		printf("ok: version %" PRId64 " (%s)\n",
		       json_get_int(o, "version", 0),
		       text_or(o, "status", "unknown"));
		return EXIT_OK;
	}
	printf("refresh failed: %s\n", text_or(o, "error", "unknown error"));
	return EXIT_FAILED;
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
static int print_peers(const char *raw)
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
		       ago(json_get_int(&o, "last_seen", 0), when,
			   sizeof(when)),
		       (long long)json_get_int(&o, "chunks", 0),
		       pc_format_size((uint64_t)json_get_int(&o, "bytes", 0),
				      size, sizeof(size)),
		       (long long)json_get_int(&o, "bad", 0));
		if (strcmp(text_or(&o, "banned", "false"), "true") == 0)
			printf("banned (%s)\n", text_or(&o, "reason", "?"));
		else
			printf("ok\n");
		json_free(&o);
		free(text);
	}
	if (n == 0)
		printf("(no peer heard yet)\n");
	return EXIT_OK;
}

/* Prints the answer (raw when @raw is set) and picks the exit code. */
static int report(const char *command, const struct json_object *obj,
		  const char *raw, const char *reply)
{
	const char *error = json_get(obj, "error");
	bool refresh = strcmp(command, "refresh") == 0;

	if (error && !refresh) {
		fprintf(stderr, "peercachectl: %s\n", error);
		return EXIT_FAILED;
	}
	if (raw) {
		fputs(raw, stdout);
		if (refresh)
			return strcmp(text_or(obj, "result", ""), "ok") == 0
				       ? EXIT_OK
				       : EXIT_FAILED;
		if (strcmp(command, "status") != 0)
			return EXIT_OK;
		return status_exit(obj);
	}
	if (strcmp(command, "status") == 0)
		return print_status(obj);
	if (strcmp(command, "stats") == 0)
		return print_stats(obj);
	if (strcmp(command, "peers") == 0)
		return print_peers(reply);
	return print_refresh(obj);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "cache-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_path = NULL, *cache_dir = PC_DEFAULT_CACHE_DIR;
	struct json_object obj;
	char *path = NULL, *reply = NULL;
	const char *command;
	bool json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'd':
			cache_dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	command = argv[optind];
	if (strcmp(command, "status") && strcmp(command, "stats") &&
	    strcmp(command, "peers") && strcmp(command, "refresh")) {
		fprintf(stderr, "peercachectl: unknown command '%s'\n",
			command);
		return EXIT_USAGE;
	}
	if (!socket_path) {
		if (asprintf(&path, "%s/control.sock", cache_dir) < 0)
			return EXIT_FAILED;
		socket_path = path;
	}
	rc = ask(socket_path, command,
		 strcmp(command, "refresh") == 0 ? 300000 : 10000, &reply);
	if (rc < 0) {
		fprintf(stderr,
			"peercachectl: cannot ask peercache at %s: %s "
			"(is the daemon running?)\n",
			socket_path, strerror(-rc));
		free(path);
		return EXIT_FAILED;
	}
	if (strcmp(command, "peers") == 0 && strstr(reply, "{\"peers\":[")) {
		/* Objects in an array: the flat reader is not for it. */
		if (json)
			fputs(reply, stdout);
		rc = json ? EXIT_OK : print_peers(reply);
	} else if (json_parse_object(reply, &obj) < 0) {
		fprintf(stderr, "peercachectl: unreadable answer: %s\n", reply);
		rc = EXIT_FAILED;
	} else {
		rc = report(command, &obj, json ? reply : NULL, reply);
		json_free(&obj);
	}
	free(reply);
	free(path);
	return rc;
}
