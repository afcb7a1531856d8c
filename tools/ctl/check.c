/*
 * check.c - peercachectl check: can this node reach its sources, step by
 * step, and which step fails?
 *
 * The sources are the daemon's own (its "config" answer on the control
 * socket), or, with -c / -o or without a daemon, the configuration file
 * read as the daemon reads it.  For each mirror one GET of REPO/head is
 * made with the daemon's transfer settings (timeouts, and the TLS and proxy
 * policy itself: common/pc_curl_policy.h); libcurl's timings and error code say how
 * far it got: name resolution, TCP connection, TLS handshake, the HTTP
 * answer.  The head is then judged by the daemon's own rules
 * (pc_head_accept: signature by a trusted key, repository, rollback,
 * expiry), with what the node's cache says it holds.  A proxy is connected to on its
 * own first, so that a dead proxy is told apart from dead mirrors.  Last,
 * the daemon runs a discovery round for its current manifest and reports
 * who answered.
 *
 * Exit status: 0 when every step passed, EXIT_PROBLEMS when some failed
 * but at least one mirror serves a valid head, EXIT_NO_MIRROR when none
 * does (docs/peercachectl.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "ctl.h"
#include "pc_curl_policy.h"
#include "pc_format.h"
#include "pc_store.h"
#include "pc_util.h"

#define MAX_TARGETS (PC_CONFIG_MAX_MIRRORS + 3)
#define MAX_STEPS 5
#define DISCOVER_TIMEOUT_MS 10000
#define CONFIG_TIMEOUT_MS 10000

enum step_state {
	STEP_OK,
	STEP_FAILED,
	STEP_SKIPPED,
	STEP_NA
};

struct step {
	const char *name;
	enum step_state state;
	double ms; /* < 0: not timed */
	char detail[512];
};

struct target {
	const char *kind; /* "mirror", "proxy", "keys", "discovery" */
	char name[512];
	struct step steps[MAX_STEPS];
	size_t nsteps;
};

struct report {
	struct target targets[MAX_TARGETS];
	size_t ntargets;
	char origin[600]; /* where the configuration came from */
	unsigned failed;
	unsigned mirrors_ok;
};

static struct target *add_target(struct report *r, const char *kind,
				 const char *name)
{
	struct target *t = &r->targets[r->ntargets++];

	memset(t, 0, sizeof(*t));
	t->kind = kind;
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

static struct step *add_step(struct target *t, const char *name,
			     enum step_state state, double ms, const char *fmt,
			     ...) __attribute__((format(printf, 5, 6)));

static struct step *add_step(struct target *t, const char *name,
			     enum step_state state, double ms, const char *fmt,
			     ...)
{
	struct step *s = &t->steps[t->nsteps++];
	va_list ap;

	s->name = name;
	s->state = state;
	s->ms = ms;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	return s;
}

/* ---- the configuration to check ---------------------------------------------- */

/* One member of the daemon's "config" answer into @cfg (pc_config_set
 * does the parsing, as for -o). */
static int set_from(struct pc_config *cfg, const struct json_object *o,
		    const char *member, const char *key, char *err,
		    size_t errlen)
{
	const struct json_field *f = json_get_field(o, member);
	int rc = 0;

	if (!f)
		return 0;
	if (!f->is_array)
		return pc_config_set(cfg, key, f->text, err, errlen);
	for (size_t i = 0; i < f->nitems && rc == 0; i++)
		rc = pc_config_set(cfg, key, f->items[i], err, errlen);
	return rc;
}

/* The daemon's sources, from its "config" answer. */
static int config_from_daemon(const char *reply, struct pc_config *cfg,
			      char *err, size_t errlen)
{
	static const char *const keys[][2] = {
		{ "mirrors", "mirror" },
		{ "trusted_keys", "trusted_key" },
		{ "repository", "repository" },
		{ "proxy", "proxy" },
		{ "ca_file", "ca_file" },
		{ "connect_timeout", "connect_timeout" },
		{ "fetch_timeout", "fetch_timeout" },
		{ "discovery", "discovery" },
		{ "cache_dir", "cache_dir" },
	};
	struct json_object o;
	int rc = 0;

	if (json_parse_object(reply, &o) < 0) {
		snprintf(err, errlen, "unreadable answer: %s", reply);
		return -EBADMSG;
	}
	if (json_get(&o, "error")) {
		snprintf(err, errlen, "the daemon says: %s",
			 json_get(&o, "error"));
		rc = -EIO;
	}
	if (rc == 0)
		rc = pc_config_defaults(cfg);
	for (size_t i = 0; rc == 0 && i < sizeof(keys) / sizeof(keys[0]); i++)
		rc = set_from(cfg, &o, keys[i][0], keys[i][1], err, errlen);
	if (rc == 0 && pc_config_resolve_repos(cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	json_free(&o);
	return rc;
}

/*
 * The daemon's configuration if it answers and nothing else was asked
 * for; else the file (-c, or the default one) with the -o overrides.
 * *@daemon_up says whether the daemon answered.
 */
static int load_sources(const struct ctl *ctl, struct pc_config *cfg,
			struct report *r, bool *daemon_up, char *err,
			size_t errlen)
{
	const char *fallback;
	char *reply = NULL, line[400];
	int rc;

	rc = ctl_request_line(ctl, "config", line, sizeof(line));
	if (rc == 0)
		rc = ctl_ask(ctl->socket_path, line, CONFIG_TIMEOUT_MS, &reply);
	*daemon_up = rc == 0;
	if (rc == 0 && !ctl->config_path && !ctl->noverrides) {
		rc = config_from_daemon(reply, cfg, err, errlen);
		free(reply);
		snprintf(r->origin, sizeof(r->origin),
			 "the daemon's configuration (%s)", ctl->socket_path);
		return rc;
	}
	free(reply);
	fallback =
		ctl->instance_config ? ctl->instance_config : PC_DEFAULT_CONFIG;
	snprintf(r->origin, sizeof(r->origin), "%s%s",
		 ctl->config_path ? ctl->config_path : fallback,
		 ctl->noverrides ? " with -o overrides" : "");
	return ctl_load_config(ctl, fallback, cfg, err, errlen);
}

/* ---- one transfer ------------------------------------------------------------- */

struct body {
	char buf[PC_HEAD_MAX + 1];
	size_t len;
	bool too_large;
};

static size_t cb_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > sizeof(b->buf) - b->len) {
		b->too_large = true;
		return 0;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	return n;
}

/* The daemon's settings for a transfer to a mirror. */
static CURL *easy_new(const struct pc_config *cfg, const char *url,
		      char *errbuf, struct curl_slist *headers)
{
	CURL *easy = curl_easy_init();
	long connect_ms = (long)cfg->connect_timeout * 1000;
	long total_ms = (long)cfg->fetch_timeout * 1000;

	if (!easy)
		return NULL;
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "peercachectl/" PC_VERSION);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
			 connect_ms < total_ms ? connect_ms : total_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, total_ms);
	if (pc_curl_policy(easy, cfg->ca_file, cfg->proxy, false) != CURLE_OK) {
		curl_easy_cleanup(easy);
		return NULL;
	}
	if (headers)
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	return easy;
}

/* Milliseconds of a CURLINFO_*_TIME_T (microseconds; 0: not reached). */
static double info_ms(CURL *easy, CURLINFO what)
{
	curl_off_t us = 0;

	if (curl_easy_getinfo(easy, what, &us) != CURLE_OK)
		return 0;
	return (double)us / 1000.0;
}

enum stage {
	STAGE_NONE,
	STAGE_RESOLVE,
	STAGE_CONNECT,
	STAGE_TLS,
	STAGE_HTTP
};

static bool tls_error(CURLcode code)
{
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* Which step a failed transfer stopped at. */
static enum stage failed_stage(CURL *easy, CURLcode code, bool https)
{
	if (code == CURLE_OK)
		return STAGE_NONE;
	if (code == CURLE_COULDNT_RESOLVE_HOST ||
	    code == CURLE_COULDNT_RESOLVE_PROXY)
		return STAGE_RESOLVE;
	if (code == CURLE_COULDNT_CONNECT)
		return STAGE_CONNECT;
	if (tls_error(code))
		return STAGE_TLS;
	if (info_ms(easy, CURLINFO_CONNECT_TIME_T) <= 0)
		return STAGE_CONNECT;
	if (https && info_ms(easy, CURLINFO_APPCONNECT_TIME_T) <= 0)
		return STAGE_TLS;
	return STAGE_HTTP;
}

/* The host name in @url into @out ("?" if there is none). */
static void url_host(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *host = NULL;

	snprintf(out, len, "?");
	if (u &&
	    curl_url_set(u, CURLUPART_URL, url,
			 CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ==
		    CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		snprintf(out, len, "%s", host);
	curl_free(host);
	curl_url_cleanup(u);
}

/* The first steps of a transfer to @host, up to the one that failed
 * (@failed). */
static void network_steps(struct target *t, CURL *easy, const char *host,
			  enum stage failed, bool https, bool proxied,
			  bool tls_row, const char *error)
{
	static const char *const names[] = { "", "resolve", "connect", "tls" };
	const char *via = proxied ? " (the proxy)" : "";
	char *ip = NULL;
	long port = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip);
	curl_easy_getinfo(easy, CURLINFO_PRIMARY_PORT, &port);
	for (enum stage s = STAGE_RESOLVE; s <= STAGE_TLS; s++) {
		if (s == STAGE_TLS && !tls_row)
			break;
		if (s == STAGE_TLS && !https)
			add_step(t, names[s], STEP_NA, -1, "not https");
		else if (failed && s > failed)
			add_step(t, names[s], STEP_SKIPPED, -1, "not reached");
		else if (s == failed)
			add_step(t, names[s], STEP_FAILED, -1, "%s", error);
		else if (s == STAGE_RESOLVE)
			add_step(t, names[s], STEP_OK,
				 info_ms(easy, CURLINFO_NAMELOOKUP_TIME_T),
				 "%s%s%s%s", host, ip && *ip ? " is " : "",
				 ip ? ip : "", via);
		else if (s == STAGE_CONNECT)
			add_step(t, names[s], STEP_OK,
				 info_ms(easy, CURLINFO_CONNECT_TIME_T),
				 "TCP to %s port %ld%s", ip ? ip : "?", port,
				 via);
		else
			add_step(t, names[s], STEP_OK,
				 info_ms(easy, CURLINFO_APPCONNECT_TIME_T),
				 "certificate verified%s", via);
	}
}

/* ---- a mirror ----------------------------------------------------------------- */

/*
 * What this node holds, for the head's rules: the repository and the
 * highest version it accepted, read from its cache (--cache-dir, else the
 * checked configuration's cache_dir), as `status` does with the daemon
 * down (LMDB lets a reader in beside the daemon).  A cache that cannot be
 * read leaves them out: only the configured repository and the clock are
 * judged then, and the head step says so.
 */
static bool node_state(const struct ctl *ctl, const struct pc_config *cfg,
		       struct pc_store_version *held, uint64_t *highest)
{
	const char *dir =
		ctl->cache_dir_given ? ctl->cache_dir : cfg->cache_dir;
	struct pc_store *store = NULL;
	char err[256];

	struct pc_store *repo;
	bool own;

	memset(held, 0, sizeof(*held));
	*highest = 0;
	if (!dir || !dir[0] ||
	    pc_store_open_readonly(dir, &store, err, sizeof(err)) < 0)
		return false;
	if (ctl_repo_store(ctl, cfg, store, &repo, &own, err, sizeof(err)) <
	    0) {
		pc_store_close(store);
		return false;
	}
	if (pc_store_current(repo, held) < 0)
		memset(held, 0, sizeof(*held));
	*highest = pc_store_highest_version(repo);
	if (own)
		pc_store_close(repo);
	pc_store_close(store);
	return true;
}

/* The head step: the daemon's own judgement (pc_head_accept). */
static bool judge_head(struct target *t, const struct body *b,
		       const struct pc_keyring *ring,
		       const struct pc_config *cfg, const struct ctl *ctl)
{
	struct pc_head_rules rules = { .repository = cfg->repos[0].name };
	struct pc_store_version held;
	struct pc_head head;
	char why[256], when[32];
	bool known;
	int rc;

	if (!ring) {
		add_step(t, "head", STEP_SKIPPED, -1, "no trusted key loaded");
		return false;
	}
	known = node_state(ctl, cfg, &held, &rules.highest);
	rules.current = held.name[0] ? held.name : NULL;
	rules.now = (int64_t)time(NULL);
	rc = pc_head_accept(b->buf, b->len, ring, &rules, &head, why,
			    sizeof(why));
	if (rc < 0) {
		add_step(t, "head", STEP_FAILED, -1, "%s", why);
		return false;
	}
	pc_format_utc(head.expires, when, sizeof(when));
	add_step(t, "head", STEP_OK, -1,
		 "version %llu of '%s', signed by a trusted key, expires "
		 "%s%s%s",
		 (unsigned long long)head.version, head.name, when,
		 rc == 0 ? "; the version this node holds" : "",
		 known ? ""
		       : " (this node's cache is not readable here: "
			 "versions not compared)");
	return true;
}

/* The step of the GET itself, after the network steps (@failed: where
 * the transfer stopped, if it did). */
static void http_step(struct target *t, CURL *easy, const struct body *b,
		      const char *url, enum stage failed, bool file,
		      const char *error)
{
	double ms = info_ms(easy, CURLINFO_TOTAL_TIME_T);
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (b->too_large)
		add_step(t, "http", STEP_FAILED, -1,
			 "GET %s: more than %d bytes: not a head", url,
			 PC_HEAD_MAX);
	else if (failed == STAGE_HTTP)
		add_step(t, "http", STEP_FAILED, -1, "GET %s: %s", url, error);
	else if (failed)
		add_step(t, "http", STEP_SKIPPED, -1, "not reached");
	else if (!file && status != 200)
		add_step(t, "http", STEP_FAILED, ms, "GET %s: HTTP status %ld",
			 url, status);
	else
		add_step(t, "http", STEP_OK, ms, "GET %s: %s%zu bytes", url,
			 file ? "" : "HTTP 200, ", b->len);
}

/* Checks @mirror; true if it serves a valid head. */
static bool check_mirror(struct target *t, const struct ctl *ctl,
			 const struct pc_config *cfg,
			 const struct pc_keyring *ring, const char *mirror,
			 struct curl_slist *headers)
{
	bool https = strncmp(mirror, "https:", 6) == 0;
	bool file = strncmp(mirror, "file:", 5) == 0;
	bool proxied = !file && cfg->proxy && cfg->proxy[0];
	size_t len = strlen(mirror);
	char errbuf[CURL_ERROR_SIZE] = "", *url, host[256];
	struct body *b = calloc(1, sizeof(*b));
	enum stage failed;
	CURLcode code;
	CURL *easy;
	bool ok = false;

	while (len && mirror[len - 1] == '/')
		len--;
	if (!b || asprintf(&url, "%.*s/head", (int)len, mirror) < 0) {
		free(b);
		add_step(t, "http", STEP_FAILED, -1, "out of memory");
		return false;
	}
	easy = easy_new(cfg, url, errbuf, headers);
	if (!easy) {
		add_step(t, "http", STEP_FAILED, -1, "libcurl failed");
		goto out;
	}
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, cb_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
	code = curl_easy_perform(easy);
	if (!errbuf[0])
		snprintf(errbuf, sizeof(errbuf), "%s",
			 curl_easy_strerror(code));
	/* A file:// mirror has no network steps: whatever failed, reading
	 * its head did (a missing directory is CURLE_FILE_COULDNT_READ_FILE,
	 * with no connect time, which failed_stage() would take for a
	 * connection that was never made). */
	failed = b->too_large || (file && code != CURLE_OK)
			 ? STAGE_HTTP
			 : failed_stage(easy, code, https);
	url_host(proxied ? cfg->proxy : mirror, host, sizeof(host));
	if (!file)
		network_steps(t, easy, host, failed, https, proxied, true,
			      errbuf);
	http_step(t, easy, b, url, failed, file, errbuf);
	if (t->steps[t->nsteps - 1].state == STEP_OK)
		ok = judge_head(t, b, ring, cfg, ctl);
	else
		add_step(t, "head", STEP_SKIPPED, -1, "no head to check");
	curl_easy_cleanup(easy);
out:
	free(url);
	free(b);
	return ok;
}

/* ---- the proxy ---------------------------------------------------------------- */

/* Name resolution and TCP to the proxy itself, without going through it. */
static void check_proxy(struct target *t, const struct pc_config *cfg)
{
	char errbuf[CURL_ERROR_SIZE] = "", *host = NULL, *port = NULL, *url;
	CURLU *u = curl_url();
	CURLcode code;
	CURL *easy;

	if (!u ||
	    curl_url_set(u, CURLUPART_URL, cfg->proxy,
			 CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		add_step(t, "resolve", STEP_FAILED, -1,
			 "proxy = %s: not a URL libcurl understands",
			 cfg->proxy);
		goto out;
	}
	if (asprintf(&url, "http://%s:%s/", host, port) < 0)
		goto out;
	easy = curl_easy_init();
	if (easy) {
		curl_easy_setopt(easy, CURLOPT_URL, url);
		curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(easy, CURLOPT_CONNECT_ONLY, 1L);
		curl_easy_setopt(easy, CURLOPT_PROXY, "");
		curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)cfg->connect_timeout * 1000);
		code = curl_easy_perform(easy);
		if (!errbuf[0])
			snprintf(errbuf, sizeof(errbuf), "%s",
				 curl_easy_strerror(code));
		network_steps(t, easy, host, failed_stage(easy, code, false),
			      false, false, false, errbuf);
		curl_easy_cleanup(easy);
	}
	free(url);
out:
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

/* ---- discovery ----------------------------------------------------------------- */

static void check_discovery(struct target *t, const struct ctl *ctl,
			    bool daemon_up)
{
	struct json_object o;
	char *reply = NULL;
	const char *error;
	int rc;

	if (!daemon_up) {
		add_step(t, "round", STEP_SKIPPED, -1,
			 "the daemon does not answer on %s", ctl->socket_path);
		return;
	}
	rc = ctl_ask(ctl->socket_path, "discover", DISCOVER_TIMEOUT_MS, &reply);
	if (rc < 0 || json_parse_object(reply, &o) < 0) {
		add_step(t, "round", STEP_FAILED, -1, "asking the daemon: %s",
			 rc < 0 ? strerror(-rc) : "unreadable answer");
		free(reply);
		return;
	}
	error = json_get(&o, "error");
	if (error && (strcmp(error, "discovery is off") == 0 ||
		      strncmp(error, "no version", 10) == 0))
		add_step(t, "round", STEP_SKIPPED, -1, "%s", error);
	else if (error && error[0])
		add_step(t, "round", STEP_FAILED, -1, "%s", error);
	else
		add_step(t, "round", STEP_OK, -1,
			 "asked for the manifest of version %lld: %lld "
			 "answers; have it: %s; heard: %s",
			 (long long)json_get_int(&o, "version", 0),
			 (long long)json_get_int(&o, "answers", 0),
			 json_get(&o, "have") && *json_get(&o, "have")
				 ? json_get(&o, "have")
				 : "nobody",
			 json_get(&o, "heard") && *json_get(&o, "heard")
				 ? json_get(&o, "heard")
				 : "nobody");
	json_free(&o);
	free(reply);
}

/* ---- the report ------------------------------------------------------------------ */

static const char *state_name(enum step_state s)
{
	static const char *const names[] = { "ok", "failed", "skipped", "-" };

	return names[s];
}

static void print_human(const struct report *r)
{
	printf("checking %s\n", r->origin);
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct target *t = &r->targets[i];

		printf("\n%s %s\n", t->kind, t->name);
		for (size_t s = 0; s < t->nsteps; s++) {
			const struct step *st = &t->steps[s];

			printf("  %-8s %-7s %s", st->name,
			       st->state == STEP_FAILED ? "FAILED"
							: state_name(st->state),
			       st->detail);
			if (st->state == STEP_OK && st->ms >= 0)
				printf(" (%.0f ms)", st->ms);
			printf("\n");
		}
	}
	printf("\n%u step%s failed; %u mirror%s serve%s a valid head\n",
	       r->failed, r->failed == 1 ? "" : "s", r->mirrors_ok,
	       r->mirrors_ok == 1 ? "" : "s", r->mirrors_ok == 1 ? "s" : "");
}

static void print_json(const struct report *r, int exit_code)
{
	struct pc_json w = { 0 };

	pc_json_str(&w, "result",
		    exit_code == EXIT_OK	 ? "ok"
		    : exit_code == EXIT_PROBLEMS ? "problems"
						 : "no_mirror");
	pc_json_str(&w, "config", r->origin);
	pc_json_int(&w, "failed_steps", r->failed);
	pc_json_int(&w, "mirrors_ok", r->mirrors_ok);
	pc_json_open(&w, "targets", '[');
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct target *t = &r->targets[i];

		pc_json_open(&w, NULL, '{');
		pc_json_str(&w, "kind", t->kind);
		pc_json_str(&w, "name", t->name);
		pc_json_open(&w, "steps", '[');
		for (size_t s = 0; s < t->nsteps; s++) {
			pc_json_open(&w, NULL, '{');
			pc_json_str(&w, "step", t->steps[s].name);
			pc_json_str(&w, "state", state_name(t->steps[s].state));
			pc_json_str(&w, "detail", t->steps[s].detail);
			pc_json_int(&w, "ms",
				    t->steps[s].ms >= 0
					    ? (int64_t)t->steps[s].ms
					    : -1);
			pc_json_close(&w);
		}
		pc_json_close(&w);
		pc_json_close(&w);
	}
	pc_json_close(&w);
	if (pc_json_print(&w, stdout) < 0)
		fprintf(stderr, "peercachectl: out of memory\n");
}

/* The trusted keys, as a target of their own. */
static struct pc_keyring *load_keys(struct report *r,
				    const struct pc_config *cfg)
{
	const struct pc_repo_config *repo = &cfg->repos[0];
	struct target *t = add_target(r, "keys", "trusted_key");
	struct pc_keyring *ring = pc_keyring_new();
	char why[512];

	for (size_t i = 0; ring && i < repo->ntrusted_keys; i++) {
		if (pc_keyring_add_file(ring, repo->trusted_keys[i], why,
					sizeof(why)) < 0) {
			add_step(t, "load", STEP_FAILED, -1, "%s", why);
			pc_keyring_free(ring);
			return NULL;
		}
	}
	if (!ring || repo->ntrusted_keys == 0) {
		add_step(t, "load", STEP_FAILED, -1,
			 ring ? "no trusted_key configured" : "out of memory");
		pc_keyring_free(ring);
		return NULL;
	}
	add_step(t, "load", STEP_OK, -1, "%zu key%s", repo->ntrusted_keys,
		 repo->ntrusted_keys == 1 ? "" : "s");
	return ring;
}

static void run_checks(struct report *r, const struct ctl *ctl,
		       const struct pc_config *cfg, bool daemon_up)
{
	static const char no_cache[] = "Cache-Control: no-cache";
	struct curl_slist *headers = curl_slist_append(NULL, no_cache);
	struct pc_keyring *ring = load_keys(r, cfg);
	const struct pc_repo_config *repo = &cfg->repos[0];

	if (cfg->proxy && cfg->proxy[0])
		check_proxy(add_target(r, "proxy", cfg->proxy), cfg);
	for (size_t i = 0; i < repo->nmirrors; i++)
		r->mirrors_ok +=
			check_mirror(add_target(r, "mirror", repo->mirrors[i]),
				     ctl, cfg, ring, repo->mirrors[i], headers);
	check_discovery(add_target(r, "discovery", "(LAN peers)"), ctl,
			daemon_up);
	for (size_t i = 0; i < r->ntargets; i++)
		for (size_t s = 0; s < r->targets[i].nsteps; s++)
			r->failed +=
				r->targets[i].steps[s].state == STEP_FAILED;
	pc_keyring_free(ring);
	curl_slist_free_all(headers);
}

int ctl_check(const struct ctl *ctl)
{
	struct report *r = calloc(1, sizeof(*r));
	struct pc_config cfg = { 0 };
	bool daemon_up = false;
	char err[512];
	int rc;

	if (!r || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(r);
		fprintf(stderr, "peercachectl: cannot initialise libcurl\n");
		return EXIT_FAILED;
	}
	if (load_sources(ctl, &cfg, r, &daemon_up, err, sizeof(err)) < 0) {
		fprintf(stderr, "peercachectl: %s\n", err);
		rc = EXIT_FAILED;
	} else if (cfg.repos[0].nmirrors == 0) {
		fprintf(stderr,
			"peercachectl: no mirror to check in %s (-c CONFIG "
			"names the configuration)\n",
			r->origin);
		rc = EXIT_FAILED;
	} else {
		run_checks(r, ctl, &cfg, daemon_up);
		/* No valid head is exit 6 even if no step said FAILED. */
		rc = r->mirrors_ok == 0 ? EXIT_NO_MIRROR
		     : r->failed	? EXIT_PROBLEMS
					: EXIT_OK;
		if (ctl->json)
			print_json(r, rc);
		else
			print_human(r);
	}
	pc_config_free(&cfg);
	curl_global_cleanup();
	free(r);
	return rc;
}
