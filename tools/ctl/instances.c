/*
 * instances.c - which daemon peercachectl talks to when no --socket or
 * --cache-dir says so: the peercache instances of this host.
 *
 * An instance is what peercache@NAME.service runs: the configuration
 * /etc/peercache/NAME.conf, the cache CACHE_DIR (from the optional
 * /etc/peercache/NAME.env, default /var/cache/peercache/NAME, given to the
 * daemon as -o cache_dir= so that it wins over the file), and the control
 * socket control_socket (from NAME.conf) or CACHE_DIR/control.sock.  This
 * file knows the unit's rules (systemd/peercache@.service.in); change both
 * together.  /etc/peercache/peercache.conf is the configuration of a
 * daemon started by hand (`peercache MNT`): its cache is the file's
 * cache_dir.  Caches below /var/cache/peercache with a control socket or
 * an index are instances too, so that a user who may not read the
 * configuration files (control_group) still finds them.
 *
 * One instance: peercachectl uses it.  Several: it lists them and asks for
 * -i NAME.  None: it says what it looked for and how to name one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"

#define DEFAULT_NAME "peercache" /* /etc/peercache/peercache.conf */

/* The value of KEY=VALUE in a systemd environment file (quotes removed),
 * or NULL.  Caller frees. */
static char *env_file_value(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *value = NULL, *p, *end;
	size_t cap = 0, keylen = strlen(key);

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		p = line + strspn(line, " \t");
		if (strncmp(p, key, keylen) != 0 || p[keylen] != '=')
			continue;
		p += keylen + 1;
		end = p + strcspn(p, "\r\n");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end - p >= 2 && (*p == '"' || *p == '\'') &&
		    end[-1] == *p) {
			p++;
			end--;
		}
		free(value);
		value = strndup(p, (size_t)(end - p)); /* the last one wins */
	}
	free(line);
	fclose(f);
	return value;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* control_socket and cache_dir of @config as the daemon reads them
 * (defaults if the file cannot be read: its owner may be root only). */
static void read_paths(const char *config, char **socket, char **cache_dir)
{
	struct pc_config cfg;
	char err[512];

	*socket = NULL;
	*cache_dir = NULL;
	if (pc_config_defaults(&cfg) < 0)
		return;
	if (pc_config_load_file(&cfg, config, false, err, sizeof(err)) < 0) {
		pc_config_free(&cfg);
		if (pc_config_defaults(&cfg) < 0)
			return;
	}
	if (cfg.control_socket[0])
		*socket = strdup(cfg.control_socket);
	*cache_dir = strdup(cfg.cache_dir);
	pc_config_free(&cfg);
}

void ctl_instance_free(struct ctl_instance *in)
{
	free(in->name);
	free(in->config);
	free(in->cache_dir);
	free(in->socket);
	memset(in, 0, sizeof(*in));
}

/* Fills @in for the instance NAME, as peercache@NAME.service runs it. */
static int unit_instance(const char *name, struct ctl_instance *in)
{
	char *env = NULL, *conf_socket, *conf_cache;

	memset(in, 0, sizeof(*in));
	if (asprintf(&in->config, CTL_CONFIG_DIR "/%s.conf", name) < 0 ||
	    asprintf(&env, CTL_CONFIG_DIR "/%s.env", name) < 0) {
		in->config = NULL;
		return -ENOMEM;
	}
	in->name = strdup(name);
	in->cache_dir = env_file_value(env, "CACHE_DIR");
	free(env);
	if (!in->cache_dir || !in->cache_dir[0]) {
		free(in->cache_dir);
		if (asprintf(&in->cache_dir, PC_DEFAULT_CACHE_DIR "/%s", name) <
		    0)
			in->cache_dir = NULL;
	}
	read_paths(in->config, &conf_socket, &conf_cache);
	free(conf_cache); /* the unit's CACHE_DIR wins */
	in->socket = conf_socket;
	if (!in->socket && in->cache_dir &&
	    asprintf(&in->socket, "%s/control.sock", in->cache_dir) < 0)
		in->socket = NULL;
	if (!in->name || !in->cache_dir || !in->socket) {
		ctl_instance_free(in);
		return -ENOMEM;
	}
	return 0;
}

/* Fills @in for a daemon started by hand with @config. */
static int config_instance(const char *config, struct ctl_instance *in)
{
	memset(in, 0, sizeof(*in));
	in->config = strdup(config);
	read_paths(config, &in->socket, &in->cache_dir);
	if (!in->socket && in->cache_dir &&
	    asprintf(&in->socket, "%s/control.sock", in->cache_dir) < 0)
		in->socket = NULL;
	if (!in->config || !in->cache_dir || !in->socket) {
		ctl_instance_free(in);
		return -ENOMEM;
	}
	return 0;
}

/* NAME of CTL_CONFIG_DIR/NAME.conf into @name, or false if @config is
 * not such a file (or is the hand-started daemon's peercache.conf). */
static bool instance_name_of(const char *config, char *name, size_t len)
{
	const char *dir = CTL_CONFIG_DIR "/", *base;
	char *resolved = realpath(config, NULL);
	size_t n;
	bool ok = false;

	base = resolved ? resolved : config;
	if (strncmp(base, dir, strlen(dir)) == 0) {
		base += strlen(dir);
		n = strlen(base);
		ok = n > 5 && n - 5 < len &&
		     strcmp(base + n - 5, ".conf") == 0 && !strchr(base, '/') &&
		     strcmp(base, DEFAULT_NAME ".conf");
		if (ok)
			snprintf(name, len, "%.*s", (int)(n - 5), base);
	}
	free(resolved);
	return ok;
}

int ctl_instance_of_config(const char *config, struct ctl_instance *in)
{
	struct ctl_instance by_hand;
	char name[256];
	int rc;

	if (!instance_name_of(config, name, sizeof(name)))
		return config_instance(config, in);
	/* peercache@NAME.service, unless only a daemon started by hand
	 * with this file answers. */
	rc = unit_instance(name, in);
	if (rc < 0 || exists(in->socket))
		return rc;
	if (config_instance(config, &by_hand) == 0) {
		if (exists(by_hand.socket)) {
			ctl_instance_free(in);
			*in = by_hand;
			return 0;
		}
		ctl_instance_free(&by_hand);
	}
	return 0;
}

/* ---- every instance of the host ---------------------------------------------- */

struct instance_list {
	struct ctl_instance *items;
	size_t count;
};

static bool listed(const struct instance_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i].name && strcmp(l->items[i].name, name) == 0)
			return true;
	return false;
}

static int append(struct instance_list *l, const struct ctl_instance *in)
{
	struct ctl_instance *items =
		realloc(l->items, (l->count + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	l->items = items;
	l->items[l->count++] = *in;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	const struct ctl_instance *x = a, *y = b;

	if (!x->name || !y->name)
		return !x->name ? -1 : !!y->name; /* the default first */
	return strcmp(x->name, y->name);
}

/* NAME.conf files of the configuration directory: the units' instances. */
static int scan_configs(struct instance_list *l)
{
	DIR *dir = opendir(CTL_CONFIG_DIR);
	struct ctl_instance in;
	struct dirent *e;
	char name[256];
	size_t n;
	int rc = 0;

	if (!dir)
		return 0;
	while (rc == 0 && (e = readdir(dir)) != NULL) {
		n = strlen(e->d_name);
		if (n <= 5 || n - 5 >= sizeof(name) || e->d_name[0] == '.' ||
		    strcmp(e->d_name + n - 5, ".conf") != 0 ||
		    strcmp(e->d_name, DEFAULT_NAME ".conf") == 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), e->d_name);
		rc = unit_instance(name, &in);
		if (rc == 0 && (rc = append(l, &in)) < 0)
			ctl_instance_free(&in);
	}
	closedir(dir);
	return rc;
}

/* Caches below the default cache directory that a daemon uses or used
 * (a control socket or an index), whose configuration was not found. */
static int scan_caches(struct instance_list *l)
{
	DIR *dir = opendir(PC_DEFAULT_CACHE_DIR);
	struct ctl_instance in;
	struct dirent *e;
	char *sock = NULL, *index = NULL;
	int rc = 0;

	if (!dir)
		return 0;
	while (rc == 0 && (e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.' || listed(l, e->d_name))
			continue;
		if (asprintf(&sock, PC_DEFAULT_CACHE_DIR "/%s/control.sock",
			     e->d_name) < 0 ||
		    asprintf(&index, PC_DEFAULT_CACHE_DIR "/%s/index",
			     e->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		if ((exists(sock) || exists(index)) &&
		    unit_instance(e->d_name, &in) == 0 &&
		    (rc = append(l, &in)) < 0)
			ctl_instance_free(&in);
		free(sock);
		free(index);
		sock = index = NULL;
	}
	free(sock);
	closedir(dir);
	return rc;
}

/* The hand-started daemon: peercache.conf exists, or its cache is used. */
static int add_default(struct instance_list *l)
{
	struct ctl_instance in;
	char *index = NULL;
	bool used;
	int rc;

	rc = config_instance(PC_DEFAULT_CONFIG, &in);
	if (rc < 0)
		return rc;
	if (asprintf(&index, "%s/index", in.cache_dir) < 0)
		index = NULL;
	used = exists(PC_DEFAULT_CONFIG) || exists(in.socket) ||
	       (index && exists(index));
	free(index);
	if (used && append(l, &in) == 0)
		return 0;
	ctl_instance_free(&in);
	return 0;
}

int ctl_find_instances(struct ctl_instance **items, size_t *count)
{
	struct instance_list l = { NULL, 0 };
	int rc = scan_configs(&l);

	if (rc == 0)
		rc = scan_caches(&l);
	if (rc == 0)
		rc = add_default(&l);
	if (rc < 0) {
		ctl_instances_free(l.items, l.count);
		return rc;
	}
	if (l.count > 1)
		qsort(l.items, l.count, sizeof(*l.items), compare_names);
	*items = l.items;
	*count = l.count;
	return 0;
}

void ctl_instances_free(struct ctl_instance *items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		ctl_instance_free(&items[i]);
	free(items);
}

int ctl_instance_named(const char *name, struct ctl_instance *in)
{
	char *config;
	int rc;

	if (!name[0] || strchr(name, '/') || name[0] == '.')
		return -EINVAL;
	if (strcmp(name, DEFAULT_NAME) == 0)
		return config_instance(PC_DEFAULT_CONFIG, in);
	if (asprintf(&config, CTL_CONFIG_DIR "/%s.conf", name) < 0)
		return -ENOMEM;
	rc = unit_instance(name, in);
	if (rc == 0 && !exists(config) && !exists(in->cache_dir)) {
		ctl_instance_free(in);
		rc = -ENOENT;
	}
	free(config);
	return rc;
}

const char *ctl_instance_label(const struct ctl_instance *in)
{
	return in->name ? in->name : DEFAULT_NAME;
}
