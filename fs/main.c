/*
 * main.c - the peercache daemon: configuration, start-up order, daemonizing
 * once the mount is ready, and orderly shutdown.
 *
 * Start-up: config → the mount point (startup.c: a dead mount cleared,
 * the cache kept out of it, created if missing) → store (the cache lock
 * refuses a second instance) →
 * net (fetcher, head poller, control socket) → on a fresh node, the first
 * head poll, bounded by fetch_timeout, so that it mounts with its tree
 * present (a node with a cached version mounts at once) → mount.
 * Only then does the parent of a daemonizing run exit, with 0, so that a
 * script that starts peercache can use the mount right away.  Under
 * systemd (Type=notify, -f) the same moment is READY=1 on $NOTIFY_SOCKET,
 * and STATUS= names the version served, at the mount and at every switch.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "startup.h"

static const char usage_text[] =
	"usage: peercache [-f] [-c CONFIG] [-o KEY=VALUE]... MOUNTPOINT\n"
	"       peercache [-c CONFIG] [-o KEY=VALUE]... --print-config\n"
	"\n"
	"Mounts a signed, published repository read-only at MOUNTPOINT.\n"
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
	"  mirrors, trust:  mirror, trusted_key, repository, proxy,\n"
	"                   ca_file\n"
	"  cache:           cache_dir, quota, max_age, purge_interval\n"
	"  updates, reads:  poll_interval, fetch_timeout, connect_timeout,\n"
	"                   low_speed_time, max_fetches, prefetch\n"
	"  LAN peers:       discovery, discovery_port, interfaces,\n"
	"                   discovery_group, peers, peer_allow,\n"
	"                   fleet_key_file, discovery_timeout,\n"
	"                   peer_server, peer_port, max_uploads,\n"
	"                   peer_ban_time\n"
	"  operating it:    control_socket, control_group,\n"
	"                   metrics_listen, log_level\n"
	"\n"
	"Under systemd (peercache@.service, -f, Type=notify) it reports\n"
	"READY=1 once mounted and the version it serves in STATUS=.\n"
	"Status, statistics, LAN peers: peercachectl status | stats | peers\n"
	"(and refresh: check the mirrors now).\n";

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
			printf("peercache %s\n", PC_VERSION);
			return 1;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (!opts->print_config && argc - optind != 1) {
		fputs(usage_text, stderr);
		return 2;
	}
	opts->mountpoint = opts->print_config ? NULL : argv[optind];
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

static void report_ready(int ready_fd, char status)
{
	int null;

	if (ready_fd < 0)
		return;
	if (status == 0) {
		/* From now on a daemon: no terminal, no cwd. */
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			close(null);
		}
		if (chdir("/") < 0)
			status = 1;
	}
	if (write(ready_fd, &status, 1) != 1)
		status = 1;
	close(ready_fd);
}

/*
 * systemd's notification protocol (sd_notify(3)): one datagram of
 * "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET, a path
 * or, with a leading '@', an abstract name.  Written out rather than taken
 * from libsystemd: it is this one function, and the daemon builds and runs
 * the same on systems without it.  Best effort: no variable, or any error,
 * and nothing is sent.  @send_flags: 0 from the main thread (waits if
 * systemd's queue is full, as sd_notify does: READY=1 must not be lost),
 * MSG_DONTWAIT from the loop thread, which must never block.
 */
static void __attribute__((format(printf, 2, 3)))
notify_systemd(int send_flags, const char *fmt, ...)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char message[512];
	size_t name_len;
	va_list ap;
	int fd;

	if (!name || (name[0] != '/' && name[0] != '@'))
		return;
	name_len = strlen(name);
	if (name_len >= sizeof(addr.sun_path))
		return;
	memcpy(addr.sun_path, name, name_len);
	if (name[0] == '@')
		addr.sun_path[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* A failure (systemd gone; with MSG_DONTWAIT, its queue full) is
	 * ignored: the daemon serves the same without it. */
	(void)sendto(
		fd, message, strlen(message), send_flags | MSG_NOSIGNAL,
		(const struct sockaddr *)&addr,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len));
	close(fd);
}

/* STATUS= for `systemctl status`: what the mount serves right now. */
static void notify_serving(struct pc_store *store, const char *mountpoint,
			   int send_flags)
{
	struct pc_store_version cur;

	if (pc_store_current(store, &cur) == 0)
		notify_systemd(send_flags,
			       "STATUS=serving %s version %llu on %s", cur.name,
			       (unsigned long long)cur.version, mountpoint);
	else
		notify_systemd(send_flags,
			       "STATUS=mounted on %s, waiting for a first "
			       "version from the mirrors",
			       mountpoint);
}

/* The fs hook wrapped, so that systemd hears of every version switch. */
struct switch_notifier {
	struct pc_net_hooks fs_hooks;
	struct pc_store *store;
	const char *mountpoint;
};

/* Loop thread (pc_net_hooks.version_switched). */
static void on_version_switched(void *arg, uint64_t version,
				const struct pc_store_changes *changes)
{
	struct switch_notifier *notifier = arg;

	if (notifier->fs_hooks.version_switched)
		notifier->fs_hooks.version_switched(notifier->fs_hooks.arg,
						    version, changes);
	notify_serving(notifier->store, notifier->mountpoint, MSG_DONTWAIT);
}

static struct pc_keyring *load_keyring(const struct pc_config *cfg)
{
	struct pc_keyring *ring = pc_keyring_new();
	char why[512];

	for (size_t i = 0; ring && i < cfg->ntrusted_keys; i++) {
		if (pc_keyring_add_file(ring, cfg->trusted_keys[i], why,
					sizeof(why)) < 0) {
			fprintf(stderr, "peercache: trusted_key: %s\n", why);
			pc_keyring_free(ring);
			return NULL;
		}
	}
	return ring;
}

/* A node that has a version serves it at once; only a fresh one waits for
 * its first head (the poll started by pc_net_start runs either way). */
static bool has_version(struct pc_store *store)
{
	struct pc_store_version cur;

	return pc_store_current(store, &cur) == 0;
}

/* The store's log lines (purges, recovery) in the daemon's format. */
static void store_log(void *arg, enum pc_log_level level, const char *line)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	static const int priority[] = { 3, 4, 6, 7 };
	const struct pc_config *cfg = arg;

	if (level > cfg->log_level)
		return;
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>store: %s\n", priority[level], line);
	else
		fprintf(stderr, "peercache: store: %s: %s\n", names[level],
			line);
}

/* Everything after the configuration; returns the exit status. */
static int serve(const struct pc_config *cfg, const char *mountpoint,
		 int ready_fd)
{
	struct switch_notifier notifier = { .mountpoint = mountpoint };
	struct pc_net_hooks hooks = { .version_switched = on_version_switched,
				      .arg = &notifier };
	struct pc_keyring *ring = NULL;
	struct pc_store *store = NULL;
	struct pc_net *net = NULL;
	struct pc_fs *fs = NULL;
	char why[512];
	int rc = 1;

	ring = load_keyring(cfg);
	if (!ring)
		goto out;
	if (pc_store_open_with(cfg->cache_dir,
			       &(struct pc_store_options){
				       .quota = cfg->quota,
				       .max_age = cfg->max_age,
				       .log = store_log,
				       .log_arg = (void *)cfg,
			       },
			       &store, why, sizeof(why)) < 0) {
		fprintf(stderr, "peercache: %s\n", why);
		goto out;
	}
	fs = pc_fs_new(cfg, store, why, sizeof(why));
	if (!fs) {
		fprintf(stderr, "peercache: %s\n", why);
		goto out;
	}
	notifier.fs_hooks = pc_fs_net_hooks(fs);
	notifier.store = store;
	net = pc_net_new(cfg, store, ring, &hooks, why, sizeof(why));
	if (!net) {
		fprintf(stderr, "peercache: %s\n", why);
		goto out;
	}
	pc_fs_set_net(fs, net);
	if (pc_net_start(net) < 0) {
		fprintf(stderr, "peercache: cannot start the network thread\n");
		goto out;
	}
	if (!has_version(store) &&
	    pc_net_refresh(net, true, (cfg->fetch_timeout + 5) * 1000) < 0) {
		struct pc_net_status st;

		pc_net_status(net, &st);
		fprintf(stderr,
			"peercache: first update check failed (%s); mounting "
			"an empty tree until a version arrives\n",
			st.last_error);
	}
	if (pc_fs_mount(fs, mountpoint, why, sizeof(why)) < 0) {
		fprintf(stderr, "peercache: %s\n", why);
		goto out;
	}
	fprintf(stderr, "peercache: mounted on %s\n", mountpoint);
	report_ready(ready_fd, 0);
	ready_fd = -1;
	notify_serving(store, mountpoint, 0);
	notify_systemd(0, "READY=1");
	rc = pc_fs_run(fs) < 0 ? 1 : 0;
	notify_systemd(0, "STOPPING=1");
	fprintf(stderr, "peercache: unmounting %s\n", mountpoint);
out:
	report_ready(ready_fd, 1);
	if (net)
		pc_net_stop(net); /* answers parked reads before the unmount */
	pc_fs_free(fs);
	pc_net_free(net);
	if (store)
		pc_store_close(store);
	pc_keyring_free(ring);
	return rc;
}

/* Before anything is opened or fetched: the mount point ready, or a
 * refusal that says why (startup.c). */
static int prepare_mountpoint(const struct pc_config *cfg,
			      const char *mountpoint)
{
	char why[1024];
	int rc = pc_startup_prepare(mountpoint, cfg, why, sizeof(why));

	if (rc < 0)
		fprintf(stderr, "peercache: %s\n", why);
	return rc;
}

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	struct pc_config cfg;
	int ready_fd = -1, rc;

	rc = parse_options(argc, argv, &opts);
	if (rc)
		return rc == 1 ? 0 : 2;
	if (load_config(&cfg, &opts, argc, argv) < 0) {
		pc_config_free(&cfg);
		return 2;
	}
	if (opts.print_config) {
		pc_config_print(&cfg, stdout);
		pc_config_free(&cfg);
		return 0;
	}
	if (prepare_mountpoint(&cfg, opts.mountpoint) < 0) {
		pc_config_free(&cfg);
		return 1;
	}
	if (!opts.foreground) {
		ready_fd = daemonize();
		if (ready_fd < 0) {
			fprintf(stderr, "peercache: cannot daemonize: %s\n",
				strerror(-ready_fd));
			pc_config_free(&cfg);
			return 1;
		}
	}
	rc = serve(&cfg, opts.mountpoint, ready_fd);
	pc_config_free(&cfg);
	return rc;
}
