/*
 * main.c - peercachectl: ask a running peercache how it is doing, and
 * tell it what to do (purge, verify, refresh, rollback, unpin, prefetch).
 *
 * It speaks the control socket protocol (docs/CONTROL.md): one command
 * line out, one JSON object back.  --json prints that object as it came;
 * otherwise it is laid out for a person (print.c).  When the daemon does
 * not answer, status and stats read the cache index instead (offline.c);
 * check tests the sources itself (check.c).  The manual is
 * docs/peercachectl.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "pc_format.h"
#include "pc_store.h"
#include "pc_util.h"

static const char usage_text[] =
	"usage: peercachectl [-i NAME | --socket PATH | --cache-dir DIR]\n"
	"                    [-c CONFIG] [-o KEY=VALUE]... [--json] COMMAND\n"
	"\n"
	"Commands:\n"
	"  status    version, age, up_to_date / stale / failing / offline\n"
	"            and why, the hold of a rollback, the mirror in use\n"
	"  stats     cache use and quota, hit rate, bytes from cache /\n"
	"            peers / mirror, served to peers, bandwidth saved,\n"
	"            purges, bad chunks, uptime (read from the cache if\n"
	"            the daemon is down)\n"
	"  peers     LAN peers heard, what each gave, bans and why\n"
	"  refresh   check the mirrors for a new version now and switch\n"
	"  purge [--to SIZE | --all]\n"
	"            purge the cache now: to the configured limits, down\n"
	"            to SIZE (like 100M), or every chunk no version or\n"
	"            open file needs\n"
	"  verify    re-hash every cached chunk; bad ones are removed\n"
	"  prefetch PATH\n"
	"            fetch the file or directory tree PATH of the current\n"
	"            version (from the mount's root) into the cache now\n"
	"  rollback  serve the previous version and hold it until unpin\n"
	"  unpin     release the hold: back to the newest version\n"
	"  check     test the mirrors, the proxy and the LAN, step by step\n"
	"  restart   hand the mount to a new process of the binary now on\n"
	"            disk (an upgrade): readers see a pause, not an error;\n"
	"            if it cannot take over, the daemon goes on serving\n"
	"\n"
	"  -i NAME          the instance peercache@NAME (" CTL_CONFIG_DIR "/\n"
	"                   NAME.conf); without -i, --socket, --cache-dir\n"
	"                   or -c: the one instance of this host (several:\n"
	"                   they are listed)\n"
	"  -r NAME, --repository NAME\n"
	"                   the repository NAME of a daemon that serves\n"
	"                   several ([repository NAME] sections): needed by\n"
	"                   refresh, prefetch, rollback and unpin there;\n"
	"                   status and stats without it list them all\n"
	"  --socket PATH    the daemon's control socket\n"
	"  --cache-dir DIR  use DIR/control.sock and DIR's index\n"
	"  -c CONFIG        the daemon's configuration file: the instance\n"
	"                   that runs with it, and the sources for check\n"
	"                   (and the quota of an offline stats); default:\n"
	"                   ask the daemon, else its configuration file\n"
	"  -o KEY=VALUE     a configuration override, as for peercache\n"
	"  --json           print the answer as JSON\n"
	"\n"
	"Exit status: 0 ok (status: up to date); 1 the daemon could not be\n"
	"asked or the command failed (status: offline), or no instance; 2\n"
	"usage, or several instances and no -i; 3 status: stale; 4\n"
	"status: failing or starting; 5 check: a step failed but\n"
	"a mirror serves a valid head, verify: bad chunks were removed;\n"
	"6 check: no mirror serves a valid head.\n";

/* Every command, what it sends, and how long its answer may take. */
struct command {
	const char *name;
	int timeout_ms;
};

static const struct command commands[] = {
	{ "status", 10000 },	{ "stats", 10000 },
	{ "peers", 10000 },	{ "refresh", 300000 },
	{ "purge", 600000 },	{ "verify", 3600000 },
	{ "rollback", 300000 }, { "unpin", 300000 },
	{ "check", 0 },		{ "prefetch", 6 * 3600 * 1000 },
	{ "restart", 300000 },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* -r @name's repository first in @cfg->repos[] (the rest follow, in
 * order); -ENOENT if the file (@path) names none such.  A file without
 * sections describes one repository, whose name may be left to its head. */
static int select_repository(const char *name, const char *path,
			     struct pc_config *cfg, char *err, size_t errlen)
{
	struct pc_repo_config chosen;

	for (size_t i = 0; i < cfg->nrepos; i++) {
		const char *have = cfg->repos[i].name ? cfg->repos[i].name : "";

		if (strcmp(have, name) != 0 && (cfg->repo_sections || have[0]))
			continue;
		chosen = cfg->repos[i];
		memmove(&cfg->repos[1], &cfg->repos[0],
			i * sizeof(cfg->repos[0]));
		cfg->repos[0] = chosen;
		return 0;
	}
	snprintf(err, errlen, "-r %s: %s has no [repository %s]", name,
		 path ? path : "the configuration", name);
	return -ENOENT;
}

int ctl_load_config(const struct ctl *ctl, const char *fallback_path,
		    struct pc_config *cfg, char *err, size_t errlen)
{
	const char *path = ctl->config_path ? ctl->config_path : fallback_path;
	int rc = pc_config_defaults(cfg);

	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (path)
		rc = pc_config_load_file(cfg, path, ctl->config_path != NULL,
					 err, errlen);
	for (size_t i = 0; rc == 0 && i < ctl->noverrides; i++) {
		char *key = strdup(ctl->overrides[i]), *eq;

		if (!key) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
			break;
		}
		eq = strchr(key, '=');
		if (eq) {
			*eq = '\0';
			rc = pc_config_set(cfg, key, eq + 1, err, errlen);
		} else {
			snprintf(err, errlen, "-o %s: not KEY=VALUE", key);
			rc = -EINVAL;
		}
		free(key);
	}
	/* repos[] as the daemon has it (pc_config.h). */
	if (rc == 0 && pc_config_resolve_repos(cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	if (rc == 0 && ctl->repository)
		rc = select_repository(ctl->repository, path, cfg, err, errlen);
	if (rc < 0)
		pc_config_free(cfg);
	return rc;
}

/* @cfg's repository names in the file's order, the daemon's (with -r,
 * select_repository moved the chosen one first); returns how many, and
 * in *@chosen where repos[0] is. */
static size_t names_in_file_order(const struct pc_config *cfg,
				  const char *names[], size_t *chosen)
{
	size_t order[PC_CONFIG_MAX_REPOS];

	for (size_t i = 0; i < cfg->nrepos; i++) {
		size_t at = i;

		for (; at > 0 &&
		       cfg->repos[order[at - 1]].line > cfg->repos[i].line;
		     at--)
			order[at] = order[at - 1];
		order[at] = i;
	}
	for (size_t i = 0; i < cfg->nrepos; i++) {
		names[i] = cfg->repos[order[i]].name;
		if (order[i] == 0)
			*chosen = i;
	}
	return cfg->nrepos;
}

int ctl_repo_store(const struct ctl *ctl, const struct pc_config *cfg,
		   struct pc_store *store, struct pc_store **out, bool *own,
		   char *err, size_t errlen)
{
	const char *names[PC_CONFIG_MAX_REPOS];
	size_t count = 0, which = 0;

	*out = store;
	*own = false;
	if (cfg && cfg->nrepos)
		count = names_in_file_order(cfg, names, &which);
	else if (ctl->repository)
		names[count++] = ctl->repository;
	else
		return 0;
	return pc_store_open_served(store, names, count, which, out, own, err,
				    errlen);
}

/* The line sent for `purge` with its options. */
static int purge_line(const struct ctl *ctl, char *line, size_t len)
{
	uint64_t bytes;

	if (ctl->purge_all && ctl->purge_to) {
		fprintf(stderr, "peercachectl: --to or --all, not both\n");
		return -EINVAL;
	}
	if (ctl->purge_all) {
		snprintf(line, len, "purge all");
	} else if (ctl->purge_to) {
		if (pc_parse_size(ctl->purge_to, &bytes) < 0) {
			fprintf(stderr,
				"peercachectl: --to %s: not a size (like "
				"100M, 2G)\n",
				ctl->purge_to);
			return -EINVAL;
		}
		snprintf(line, len, "purge to %llu", (unsigned long long)bytes);
	} else {
		snprintf(line, len, "purge");
	}
	return 0;
}

/* Prints an answer for a person; returns the exit code. */
static int print_answer(const char *command, const struct json_object *o,
			const char *raw)
{
	if (strcmp(command, "status") == 0)
		return ctl_print_status(o);
	if (strcmp(command, "stats") == 0)
		return ctl_print_stats(o);
	if (strcmp(command, "peers") == 0)
		return ctl_print_peers(raw);
	if (strcmp(command, "purge") == 0)
		return ctl_print_purge(o);
	if (strcmp(command, "verify") == 0)
		return ctl_print_verify(o);
	if (strcmp(command, "prefetch") == 0)
		return ctl_print_prefetch(o);
	if (strcmp(command, "rollback") == 0 || strcmp(command, "unpin") == 0)
		return ctl_print_switch(command, o);
	if (strcmp(command, "restart") == 0)
		return ctl_print_restart(o);
	return ctl_print_refresh(o);
}

/* The answer's exit code without printing it (--json). */
static int json_exit(const char *command, const struct json_object *o)
{
	const char *result = json_get(o, "result");

	if (strcmp(command, "status") == 0)
		return ctl_status_exit(o);
	if (result && strcmp(result, "pending") == 0)
		return EXIT_NOT_CURRENT; /* refresh: still running */
	if (strcmp(command, "verify") == 0 && json_get_int(o, "bad", 0) > 0)
		return EXIT_PROBLEMS;
	return EXIT_OK;
}

/*
 * @reply to `stats` with the health word of `status` added as its first
 * member, so that a monitoring script finds both in one answer: the
 * daemon is asked for its status right after its figures.  Without an
 * answer to that, @reply is returned as it came.  Frees or returns
 * @reply.
 */
static char *with_status_word(const struct ctl *ctl, char *reply)
{
	const int timeout_ms = find_command("status")->timeout_ms;
	char *status_reply = NULL, *joined = NULL, line[320];
	struct json_object o;
	const char *word;
	bool has_word = false;

	/* A daemon that serves several repositories says it itself. */
	if (json_parse_object(reply, &o) == 0) {
		has_word = json_get(&o, "status") != NULL;
		json_free(&o);
	}
	if (reply[0] != '{' || has_word ||
	    ctl_request_line(ctl, "status", line, sizeof(line)) < 0 ||
	    ctl_ask(ctl->socket_path, line, timeout_ms, &status_reply) < 0)
		return reply;
	if (json_parse_object(status_reply, &o) == 0) {
		word = json_get(&o, "status");
		/* A word of the protocol: nothing to escape. */
		if (word && word[0] &&
		    !word[strspn(word, "abcdefghijklmnopqrstuvwxyz_")] &&
		    asprintf(&joined, "{\"status\":\"%s\"%s%s", word,
			     reply[1] == '}' ? "" : ",", reply + 1) < 0)
			joined = NULL;
		json_free(&o);
	}
	free(status_reply);
	if (!joined)
		return reply;
	free(reply);
	return joined;
}

/* Prints the daemon's answer @reply to @command; returns the exit code. */
static int report(const struct ctl *ctl, const char *command, const char *reply)
{
	struct json_object obj;
	const char *error;
	int rc;

	/* `peers` holds objects in an array: the flat reader skips it. */
	if (strcmp(command, "peers") == 0 && strstr(reply, "{\"peers\":[")) {
		if (ctl->json)
			fputs(reply, stdout);
		return ctl->json ? EXIT_OK : ctl_print_peers(reply);
	}
	if (json_parse_object(reply, &obj) < 0) {
		fprintf(stderr, "peercachectl: unreadable answer: %s\n", reply);
		return EXIT_FAILED;
	}
	error = json_get(&obj, "error");
	if (error && error[0] && strcmp(command, "refresh") != 0) {
		if (ctl->json)
			fputs(reply, stdout);
		fprintf(stderr, "peercachectl: %s: %s\n", command, error);
		rc = EXIT_FAILED;
	} else if (ctl->json) {
		fputs(reply, stdout);
		rc = json_exit(command, &obj);
		if (rc == EXIT_OK && error && error[0])
			rc = EXIT_FAILED;
	} else {
		rc = print_answer(command, &obj, reply);
	}
	json_free(&obj);
	return rc;
}

static int check_args(int argc, char **argv, struct ctl *ctl,
		      const char **command);

static int parse_args(int argc, char **argv, struct ctl *ctl,
		      const char **command)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "cache-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "instance", required_argument, NULL, 'i' },
		{ "repository", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "to", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:i:o:r:h", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			ctl->socket_path = optarg;
			ctl->socket_given = true;
			break;
		case 'd':
			ctl->cache_dir = optarg;
			ctl->cache_dir_given = true;
			break;
		case 'c':
			ctl->config_path = optarg;
			break;
		case 'i':
			ctl->instance = optarg;
			break;
		case 'r':
			ctl->repository = optarg;
			break;
		case 'o':
			if (ctl->noverrides == CTL_MAX_OVERRIDES)
				return EXIT_USAGE;
			ctl->overrides[ctl->noverrides++] = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 't':
			ctl->purge_to = optarg;
			break;
		case 'a':
			ctl->purge_all = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		default:
			return EXIT_USAGE;
		}
	}
	return check_args(argc, argv, ctl, command);
}

/* After the options: the command, and options that do not go together. */
static int check_args(int argc, char **argv, struct ctl *ctl,
		      const char **command)
{
	if (argc - optind == 2 && strcmp(argv[optind], "prefetch") == 0)
		ctl->prefetch_path = argv[optind + 1];
	else if (argc - optind != 1 || strcmp(argv[optind], "prefetch") == 0)
		return EXIT_USAGE;
	*command = argv[optind];
	if ((ctl->purge_to || ctl->purge_all) && strcmp(*command, "purge")) {
		fprintf(stderr, "peercachectl: --to and --all are for purge\n");
		return EXIT_USAGE;
	}
	if (ctl->repository && !pc_repo_name_valid(ctl->repository)) {
		fprintf(stderr,
			"peercachectl: -r %s: not a repository name (1-64 of "
			"A-Z a-z 0-9 . _ -, not starting with '.')\n",
			ctl->repository);
		return EXIT_USAGE;
	}
	if (ctl->instance && (ctl->socket_given || ctl->cache_dir_given)) {
		fprintf(stderr, "peercachectl: -i NAME, or --socket / "
				"--cache-dir, not both\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* "  NAME  CONFIG (cache CACHE_DIR)" for each instance, on stderr. */
static void list_instances(const struct ctl_instance *items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		fprintf(stderr, "  %-20s %s (cache %s)\n",
			ctl_instance_label(&items[i]), items[i].config,
			items[i].cache_dir);
}

/*
 * The daemon to ask when neither --socket nor --cache-dir named it: -i
 * NAME, the instance that runs with -c CONFIG, or the one instance of the
 * host (instances.c).  Fills @chosen (the caller frees it) and points
 * @ctl at it; else says why, and returns the exit code.
 */
static int choose_instance(struct ctl *ctl, struct ctl_instance *chosen)
{
	struct ctl_instance *items = NULL;
	size_t count = 0;
	int rc;

	if (ctl->instance) {
		rc = ctl_instance_named(ctl->instance, chosen);
	} else if (ctl->config_path) {
		rc = ctl_instance_of_config(ctl->config_path, chosen);
	} else {
		rc = ctl_find_instances(&items, &count);
		if (rc == 0 && count == 1) {
			*chosen = items[0];
			memset(&items[0], 0, sizeof(items[0]));
		}
	}
	if (rc == -ENOMEM) {
		fprintf(stderr, "peercachectl: out of memory\n");
		rc = EXIT_FAILED;
	} else if (rc < 0) {
		fprintf(stderr,
			"peercachectl: -i %s: no such instance "
			"(no " CTL_CONFIG_DIR
			"/%s.conf, no cache " PC_DEFAULT_CACHE_DIR "/%s)\n",
			ctl->instance, ctl->instance, ctl->instance);
		rc = EXIT_USAGE;
		if (ctl_find_instances(&items, &count) == 0 && count) {
			fprintf(stderr, "the instances of this host:\n");
			list_instances(items, count);
		}
	} else if (!ctl->instance && !ctl->config_path && count == 0) {
		fprintf(stderr, "peercachectl: no peercache instance on this "
				"host (no "
				"configuration in " CTL_CONFIG_DIR
				", no cache in " PC_DEFAULT_CACHE_DIR "); name "
				"the "
				"daemon with -i NAME, -c CONFIG, --cache-dir "
				"DIR or "
				"--socket PATH\n");
		rc = EXIT_FAILED;
	} else if (!ctl->instance && !ctl->config_path && count > 1) {
		fprintf(stderr,
			"peercachectl: %zu peercache instances on this host; "
			"name one with -i NAME (or --cache-dir DIR):\n",
			count);
		list_instances(items, count);
		rc = EXIT_USAGE;
	} else {
		ctl->socket_path = chosen->socket;
		ctl->cache_dir = chosen->cache_dir;
		ctl->instance_config = chosen->config;
	}
	ctl_instances_free(items, count);
	return rc;
}

/* Sends @line to the daemon and reports its answer; exit status. */
static int ask_daemon(const struct ctl *ctl, const char *command,
		      const char *line, int timeout_ms)
{
	static const char not_running[] = " (is the daemon running?)";
	char *reply = NULL;
	int rc;

	rc = ctl_ask(ctl->socket_path, line, timeout_ms, &reply);
	/* A daemon that is not there: status and stats read the cache
	 * (unless only a socket path was named). */
	if (rc < 0 && ctl_daemon_absent(rc) &&
	    (!ctl->socket_given || ctl->cache_dir_given) &&
	    (strcmp(command, "status") == 0 || strcmp(command, "stats") == 0)) {
		rc = ctl_offline(ctl, command, rc);
	} else if (rc < 0) {
		fprintf(stderr,
			"peercachectl: cannot ask peercache at %s: %s%s\n",
			ctl->socket_path, strerror(-rc),
			ctl_daemon_absent(rc) ? not_running : "");
		rc = EXIT_FAILED;
	} else {
		if (strcmp(command, "stats") == 0)
			reply = with_status_word(ctl, reply);
		rc = report(ctl, command, reply);
	}
	free(reply);
	return rc;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { .cache_dir = PC_DEFAULT_CACHE_DIR };
	struct ctl_instance chosen = { 0 };
	const struct command *cmd;
	const char *command = NULL;
	char *path = NULL, line[320], request[400];
	int rc;

	rc = parse_args(argc, argv, &ctl, &command);
	if (rc < 0)
		return EXIT_OK; /* --help */
	if (rc) {
		fputs(usage_text, stderr);
		return rc;
	}
	cmd = find_command(command);
	if (!cmd) {
		fprintf(stderr, "peercachectl: unknown command '%s'\n",
			command);
		return EXIT_USAGE;
	}
	if (!ctl.socket_path && !ctl.cache_dir_given) {
		rc = choose_instance(&ctl, &chosen);
		if (rc)
			goto out;
	}
	if (!ctl.socket_path) {
		if (asprintf(&path, "%s/control.sock", ctl.cache_dir) < 0)
			return EXIT_FAILED;
		ctl.socket_path = path;
	}
	snprintf(line, sizeof(line), "%s", command);
	if (ctl.prefetch_path && (strlen(ctl.prefetch_path) > 240 ||
				  strpbrk(ctl.prefetch_path, "\r\n"))) {
		fprintf(stderr, "peercachectl: prefetch: a path of at most "
				"240 bytes, on one line\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if (ctl.prefetch_path)
		snprintf(line, sizeof(line), "prefetch %s", ctl.prefetch_path);
	if (strcmp(command, "purge") == 0 &&
	    purge_line(&ctl, line, sizeof(line)) < 0) {
		rc = EXIT_USAGE;
	} else if (strcmp(command, "check") == 0) {
		rc = ctl_check(&ctl);
	} else if (ctl_request_line(&ctl, line, request, sizeof(request)) < 0) {
		fprintf(stderr,
			"peercachectl: %s: the request is longer than "
			"the daemon reads (256 bytes)\n",
			command);
		rc = EXIT_USAGE;
	} else {
		rc = ask_daemon(&ctl, command, request, cmd->timeout_ms);
	}
out:
	free(path);
	ctl_instance_free(&chosen);
	return rc;
}
