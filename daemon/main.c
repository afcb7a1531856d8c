/*
 * main.c - the peercache daemon: options, configuration, and daemonizing;
 * daemon.c does the rest (start-up order, serving, restarts, shutdown).
 *
 * The parent of a daemonizing run exits once the mount serves, with 0, so
 * that a script that starts peercache can use the mount right away.  A
 * process started by a running daemon to take its mount over (restart
 * without unmount, takeover.c) does not fork again.  So that a restart can
 * start the binary at the path this one was started as, with the same
 * arguments in the same working directory, both are kept here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "exe_path.h"
#include "handover.h"
#include "pc_fs.h"
#include "startup.h"

/* The version this binary says it is (--version, and to the daemon it
 * takes a mount over from).  A test build overrides it. */
#ifndef PC_DAEMON_VERSION
#define PC_DAEMON_VERSION PC_VERSION
#endif

static const char usage_text[] =
	"usage: peercache [-f] [-c CONFIG] [-o KEY=VALUE]... MOUNTPOINT\n"
	"       peercache [-f] [-c CONFIG] [-o KEY=VALUE]...\n"
	"       peercache [-c CONFIG] [-o KEY=VALUE]... --print-config\n"
	"\n"
	"Mounts a signed, published repository read-only at MOUNTPOINT, or\n"
	"each [repository NAME] section of the configuration at its\n"
	"mount_point (then no MOUNTPOINT, or an empty one).\n"
	"Reads resolve by content hash: the local cache, then the mirrors in\n"
	"order; every byte is verified before it is served.\n"
	"\n"
	"  -f              stay in the foreground (systemd, debugging)\n"
	"  -c CONFIG       configuration file (default " PC_DEFAULT_CONFIG ")\n"
	"  -o KEY=VALUE    set a configuration key; repeatable, wins over the\n"
	"                  file (mirror= and trusted_key= add to the list)\n"
	"  --print-config  print the effective configuration and exit\n"
	"  -h, --help      this text;  -V, --version  the version\n"
	"\n"
	"Keys, by subject (each with its default and meaning in\n"
	"peercache.conf(5) and the sample config, peercache.conf.example;\n"
	"--print-config shows the values):\n"
	"  the repository:  mirror, trusted_key, repository\n"
	"                   at the top level, or a [repository NAME] section\n"
	"                   of mount_point, mirror, trusted_key and\n"
	"                   poll_interval; one daemon serves every section\n"
	"  mirrors, trust:  proxy, ca_file\n"
	"  cache:           cache_dir, quota, max_age, purge_interval\n"
	"  updates, reads:  poll_interval, fetch_timeout, connect_timeout,\n"
	"                   low_speed_time, max_fetches, prefetch,\n"
	"                   read_ahead, passthrough\n"
	"  LAN peers:       discovery, discovery_port, interfaces,\n"
	"                   discovery_group, peers, peer_allow,\n"
	"                   fleet_key_file, discovery_timeout,\n"
	"                   peer_server, peer_port, max_uploads,\n"
	"                   peer_ban_time\n"
	"  other sites:     mirror_serve, mirror_allow\n"
	"  operating it:    control_socket, control_group,\n"
	"                   metrics_listen, log_level\n"
	"\n"
	"Under systemd (peercache@.service, -f, Type=notify) it reports\n"
	"READY=1 once mounted and the version it serves in STATUS=, and\n"
	"keeps the mount in systemd's fd store: after a crash the next\n"
	"process serves the same mount (one repository only).\n"
	"Status, statistics, LAN peers: peercachectl status | stats | peers\n"
	"(and refresh: check the mirrors now).  peercachectl restart (or\n"
	"systemctl reload) hands the mount to a new process of the binary\n"
	"now on disk: an upgrade without unmounting (one repository only;\n"
	"a daemon of several is stopped and started).\n";

#ifdef PC_TEST_HOOKS
/* peercache-next only: $PEERCACHE_TEST_HOOKS, "KEY=VALUE,..." with the
 * keys of struct pc_fs_test_hooks (pc_fs.h).  The installed daemon is
 * built without this and never reads the variable. */
static void read_test_hooks(struct pc_fs_test_hooks *t)
{
	const char *env = getenv("PEERCACHE_TEST_HOOKS");
	char *copy = env ? strdup(env) : NULL, *item, *value, *save = NULL;

	for (item = copy ? strtok_r(copy, ",", &save) : NULL; item;
	     item = strtok_r(NULL, ",", &save)) {
		value = strchr(item, '=');
		if (!value)
			continue;
		*value++ = '\0';
		if (strcmp(item, "pause_ms") == 0)
			t->pause_ms = (unsigned)strtoul(value, NULL, 10);
		else if (strcmp(item, "serve_delay_ms") == 0)
			t->serve_delay_ms = (unsigned)strtoul(value, NULL, 10);
		else if (strcmp(item, "mainpid_delay_ms") == 0)
			t->mainpid_delay_ms =
				(unsigned)strtoul(value, NULL, 10);
		else if (strcmp(item, "mounted_delay_ms") == 0)
			t->mounted_delay_ms =
				(unsigned)strtoul(value, NULL, 10);
		else if (strcmp(item, "crash_lookup") == 0)
			snprintf(t->crash_lookup, sizeof(t->crash_lookup), "%s",
				 value);
	}
	free(copy);
}
#endif

static const struct option longopts[] = {
	{ "print-config", no_argument, NULL, 'P' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct options {
	bool foreground;
	bool print_config;
	const char *config_path;
	const char *mountpoint;
};

static int apply_overrides(struct pc_config *cfg, int argc, char **argv)
{
	char why[512];

	/* Second pass over the same arguments: only -o matters now. */
	optind = 1;
	opterr = 0;
	for (;;) {
		int opt = getopt_long(argc, argv, "fc:o:hV", longopts, NULL);
		char *eq;

		if (opt == -1)
			break;
		if (opt != 'o')
			continue;
		eq = strchr(optarg, '=');
		if (!eq) {
			fprintf(stderr,
				"peercache: -o %s: expected KEY=VALUE\n",
				optarg);
			return -EINVAL;
		}
		*eq = '\0';
		if (pc_config_set(cfg, optarg, eq + 1, why, sizeof(why)) < 0) {
			fprintf(stderr, "peercache: -o: %s\n", why);
			return -EINVAL;
		}
		*eq = '=';
	}
	return 0;
}

/* Returns 0 to go on, 1 to exit 0 (help), or 2 for a usage error. */
static int parse_options(int argc, char **argv, struct options *opts)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "fc:o:hV", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'f':
			opts->foreground = true;
			break;
		case 'c':
			opts->config_path = optarg;
			break;
		case 'o':
			break; /* applied after the file */
		case 'P':
			opts->print_config = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		case 'V':
			printf("peercache %s\n", PC_DAEMON_VERSION);
			return 1;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	/* No MOUNTPOINT: the configuration's section must give it. */
	if (!opts->print_config && argc - optind > 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	opts->mountpoint =
		opts->print_config || optind == argc ? NULL : argv[optind];
	/* An empty MOUNTPOINT is none: the unit passes ${MOUNTPOINT}, which
	 * NAME.env empties for a configuration of several sections. */
	if (opts->mountpoint && !*opts->mountpoint)
		opts->mountpoint = NULL;
	return 0;
}

static int load_config(struct pc_config *cfg, const struct options *opts,
		       int argc, char **argv)
{
	const char *path =
		opts->config_path ? opts->config_path : PC_DEFAULT_CONFIG;
	char why[512];

	if (pc_config_defaults(cfg) < 0 ||
	    pc_config_load_file(cfg, path, opts->config_path != NULL, why,
				sizeof(why)) < 0) {
		fprintf(stderr, "peercache: %s\n", why);
		return -EINVAL;
	}
	if (apply_overrides(cfg, argc, argv) < 0)
		return -EINVAL;
	if (pc_config_finish(cfg, why, sizeof(why)) < 0) {
		fprintf(stderr, "peercache: configuration: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

/*
 * Forks; the parent waits until the child reports the mount ready (a byte
 * on a pipe) or dies, and exits accordingly.  Returns the write end in the
 * child.
 */
static int daemonize(void)
{
	int pipefd[2];
	char status = 1;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &status, 1) != 1)
			status = 1; /* the child died before it was ready */
		_exit(status);
	}
	close(pipefd[0]);
	setsid();
	return pipefd[1];
}

/* What start-up refuses in the mount points of the configuration's
 * sections (startup.c): same or nested ones, the cache inside one.  For
 * --print-config, and before several are served.  0, or 2 with the
 * reason said. */
static int check_mount_points(const struct pc_config *cfg)
{
	char why[1024];

	if (startup_check_repos(cfg, why, sizeof(why)) < 0) {
		fprintf(stderr, "peercache: %s\n", why);
		return 2;
	}
	return 0;
}

/*
 * The mount point to serve, into opts->mountpoint: the command line's,
 * or the mount_point of the one [repository NAME] section (the command
 * line may name the same directory: the unit always gives one).  With
 * several sections, each is mounted at its own mount_point (daemon.c):
 * they are checked here, and a MOUNTPOINT is refused.  0, or 2 (exit
 * status) with the reason said.  The mount point served is checked
 * against the cache at start (startup_prepare), not here: a mount
 * resumed or taken over is alive, and not to be looked at.
 */
static int choose_mountpoint(const struct pc_config *cfg, struct options *opts)
{
	const struct pc_repo_config *repo = &cfg->repos[0];

	if (cfg->nrepos > 1) {
		if (check_mount_points(cfg))
			return 2;
		if (opts->mountpoint) {
			fprintf(stderr,
				"peercache: MOUNTPOINT %s: the configuration "
				"has %zu [repository NAME] sections, each "
				"mounted at its mount_point: give none\n",
				opts->mountpoint, cfg->nrepos);
			return 2;
		}
		return 0;
	}
	if (!repo->mount_point && !opts->mountpoint) {
		fprintf(stderr, "peercache: no MOUNTPOINT: give one, or a "
				"[repository NAME] section with its "
				"mount_point in the configuration\n");
		return 2;
	}
	if (repo->mount_point && opts->mountpoint &&
	    !startup_same_dir(repo->mount_point, opts->mountpoint)) {
		fprintf(stderr,
			"peercache: MOUNTPOINT %s is not %s, the mount_point "
			"of [repository %s]: give that one, or none\n",
			opts->mountpoint, repo->mount_point, repo->name);
		return 2;
	}
	if (!opts->mountpoint)
		opts->mountpoint = repo->mount_point;
	return 0;
}

/* --print-config: exit 2 for whatever start-up would refuse, as it
 * would; else the configuration, and 0. */
static int print_config(const struct pc_config *cfg)
{
	char why[512];

	if (check_mount_points(cfg))
		return 2;
	if (pc_net_check_config(cfg, why, sizeof(why)) < 0) {
		fprintf(stderr, "peercache: %s\n", why);
		return 2;
	}
	pc_config_print(cfg, stdout);
	return 0;
}

/* The daemon: how a restart starts the next one recorded, daemonized
 * (unless -f, or started by a daemon handing its mount over: no second
 * fork), then served.  The exit status. */
static int serve(const struct pc_config *cfg, const struct options *opts,
		 char **argv, const char *cwd)
{
	struct daemon_args args = { .cfg = cfg,
				    .mountpoint = opts->mountpoint,
				    .ready_fd = -1,
				    .argv = argv,
				    .cwd = cwd,
				    .version = PC_DAEMON_VERSION,
				    .foreground = opts->foreground };
	char exe_why[512] = "";
	char *exe = pc_fs_exe_path(argv[0], cwd, exe_why, sizeof(exe_why));
	int rc = 1;
#ifdef PC_TEST_HOOKS
	struct pc_fs_test_hooks test_hooks = { 0 };

	read_test_hooks(&test_hooks);
	args.test_hooks = &test_hooks;
#endif
	if (!exe)
		pc_log(PC_LOG_WARN, "main",
		       "peercachectl restart will be refused: %s", exe_why);
	args.exe = exe;
	args.exe_why = exe_why;
	args.takeover_chan = pc_fs_takeover_channel();
	if (!opts->foreground && args.takeover_chan < 0) {
		args.ready_fd = daemonize();
		if (args.ready_fd < 0)
			fprintf(stderr, "peercache: cannot daemonize: %s\n",
				strerror(-args.ready_fd));
	}
	if (args.ready_fd >= 0 || opts->foreground || args.takeover_chan >= 0)
		rc = daemon_serve(&args);
	free(exe);
	return rc;
}

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	char *cwd = getcwd(NULL, 0);
	struct pc_config cfg;
	int rc;

	rc = parse_options(argc, argv, &opts);
	if (rc) {
		free(cwd);
		return rc == 1 ? 0 : 2;
	}
	if (load_config(&cfg, &opts, argc, argv) < 0) {
		rc = 2;
		goto out;
	}
	pc_log_set_level(cfg.log_level);
	if (opts.print_config)
		rc = print_config(&cfg);
	else if (!(rc = choose_mountpoint(&cfg, &opts)))
		rc = serve(&cfg, &opts, argv, cwd);
out:
	pc_config_free(&cfg);
	free(cwd);
	return rc;
}
