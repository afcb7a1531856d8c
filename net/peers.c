/*
 * peers.c - the node's LAN side: who may talk to it (the ACL), the UDP
 * discovery instance on the loop, the HTTP peer server on its own thread,
 * and the table of peers heard, with their bans.
 *
 * The table is written on the loop thread and read by the control socket
 * (also the loop thread) and by tests; a mutex keeps the copies whole.
 * A peer is keyed by its address and HTTP port.  Bans last peer_ban_time;
 * a peer that merely failed (timeout, refused connection) is skipped for a
 * few seconds so that a dead neighbour costs one connect timeout, not one
 * per chunk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* A peer that failed is not asked again for this long. */
#define PEER_SKIP_MS 5000

/* ---- the table ------------------------------------------------------------ */

/* Under peers->lock.  NULL when the table is full of fresher peers. */
static struct net_peer *peer_slot(struct net_peers *p,
				  const struct pc_disc_peer *peer, bool add)
{
	struct net_peer *oldest = NULL;
	int64_t now = net_unix_now();

	for (size_t i = 0; i < p->npeers; i++) {
		struct net_peer *e = &p->table[i];

		if (e->addr.s_addr == peer->addr.s_addr &&
		    e->http_port == peer->http_port)
			return e;
		if (!oldest || e->last_seen < oldest->last_seen)
			oldest = e;
	}
	if (!add)
		return NULL;
	if (p->npeers < NET_PEER_TABLE) {
		oldest = &p->table[p->npeers++];
	} else if (oldest->banned_until > now ||
		   oldest->last_seen > now - NET_PEER_FORGET_S) {
		return NULL; /* keep bans and live peers */
	}
	memset(oldest, 0, sizeof(*oldest));
	oldest->addr = peer->addr;
	oldest->http_port = peer->http_port;
	oldest->first_seen = now;
	return oldest;
}

void net_peer_seen(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	if (!peer->http_port)
		return; /* serves nothing: nothing to remember */
	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, true);
	if (e)
		e->last_seen = net_unix_now();
	pthread_mutex_unlock(&p->lock);
}

void net_peer_credit(struct pc_net *net, const struct pc_disc_peer *peer,
		     uint64_t bytes)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, true);
	if (e) {
		e->chunks++;
		e->bytes += bytes;
		e->last_seen = net_unix_now();
	}
	pthread_mutex_unlock(&p->lock);
}

void net_peer_ban(struct pc_net *net, const struct pc_disc_peer *peer,
		  const char *why)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, true);
	if (e) {
		e->bad++;
		e->banned_until =
			net_unix_now() + (int64_t)net->cfg->peer_ban_time;
		snprintf(e->reason, sizeof(e->reason), "%s", why);
	}
	pthread_mutex_unlock(&p->lock);
	net_log(net, PC_LOG_WARN, "peer %s:%u banned for %llu s: %s",
		inet_ntoa(peer->addr), peer->http_port,
		(unsigned long long)net->cfg->peer_ban_time, why);
}

void net_peer_failed(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, true);
	if (e) {
		e->failures++;
		e->skip_until = uv_now(&net->loop) + PEER_SKIP_MS;
	}
	pthread_mutex_unlock(&p->lock);
}

bool net_peer_usable(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;
	bool usable = peer->http_port != 0;

	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, false);
	if (e && (e->banned_until > net_unix_now() ||
		  e->skip_until > uv_now(&net->loop)))
		usable = false;
	pthread_mutex_unlock(&p->lock);
	return usable;
}

static int by_last_seen_desc(const void *a, const void *b)
{
	const struct net_peer *x = a, *y = b;

	return (x->last_seen < y->last_seen) - (x->last_seen > y->last_seen);
}

size_t net_peers_recent(struct pc_net *net, struct pc_disc_peer *out,
			size_t max)
{
	struct net_peers *p = &net->peers;
	int64_t now = net_unix_now();
	struct net_peer *copy;
	size_t n = 0, m;

	copy = malloc(sizeof(p->table));
	if (!copy)
		return 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->npeers; i++)
		if (p->table[i].banned_until <= now &&
		    p->table[i].last_seen > now - NET_PEER_FORGET_S)
			copy[n++] = p->table[i];
	pthread_mutex_unlock(&p->lock);
	qsort(copy, n, sizeof(*copy), by_last_seen_desc);
	m = n < max ? n : max;
	for (size_t i = 0; i < m; i++)
		out[i] =
			(struct pc_disc_peer){ .addr = copy[i].addr,
					       .http_port = copy[i].http_port };
	free(copy);
	return m;
}

size_t net_peers_snapshot(struct pc_net *net, struct net_peer *out, size_t max)
{
	struct net_peers *p = &net->peers;
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->npeers < max ? p->npeers : max;
	memcpy(out, p->table, n * sizeof(*out));
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* ---- the head neighbours may ask for ------------------------------------- */

void net_peers_save_head(struct pc_net *net, const char *body, size_t len)
{
	char tmp[sizeof(net->peers.head_path) + 8];
	int fd;
	bool ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", net->peers.head_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		net_log(net, PC_LOG_WARN, "%s: %s", tmp, strerror(errno));
		return;
	}
	ok = write(fd, body, len) == (ssize_t)len && fsync(fd) == 0;
	if (close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, net->peers.head_path) < 0) {
		net_log(net, PC_LOG_WARN, "%s: %s", net->peers.head_path,
			strerror(errno));
		unlink(tmp);
	}
}

/* ---- life ------------------------------------------------------------------- */

static void disc_log(void *arg, enum pc_log_level level, const char *line)
{
	net_log(arg, level, "%s", line);
}

static void server_log(void *arg, enum pc_log_level level, const char *line)
{
	net_log(arg, level, "%s", line);
}

static void on_disc_seen(void *arg, const struct pc_disc_peer *peer)
{
	net_peer_seen(arg, peer);
}

/* A neighbour's download ended: whoever waited for it asks it now. */
static void on_disc_released(void *arg, const struct pc_hash *hash,
			     const struct pc_disc_peer *peer);

static int start_server(struct pc_net *net, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	struct pc_peer_server_opts opts;
	char why[256];

	pc_peer_server_opts_init(&opts);
	opts.port = (uint16_t)cfg->peer_port;
	opts.max_uploads = (unsigned)cfg->max_uploads;
	/* A neighbour runs up to max_fetches GETs at once, all to us when we
	 * are the only one with the chunks: room for that and then some. */
	opts.per_client_max =
		(unsigned)(cfg->max_fetches * 2 > 16 ? cfg->max_fetches * 2
						     : 16);
	opts.allow = &net->peers.acl;
	opts.head_path = net->peers.head_path;
	opts.log_level = cfg->log_level;
	opts.log = server_log;
	opts.log_arg = net;
	net->peers.server =
		pc_peer_server_start(net->store, &opts, why, sizeof(why));
	if (!net->peers.server) {
		snprintf(err, errlen, "peer_port %llu: %s",
			 (unsigned long long)cfg->peer_port, why);
		return -EINVAL;
	}
	net->peers.http_port = pc_peer_server_port(net->peers.server);
	return 0;
}

static int start_discovery(struct pc_net *net, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	uint8_t key[PC_DISC_KEY_MAX];
	struct pc_disc_opts opts;
	bool listed = (cfg->peers && cfg->peers[0]) ||
		      (cfg->discovery_group && cfg->discovery_group[0]);
	char why[256];

	pc_disc_opts_defaults(&opts);
	opts.port = (uint16_t)cfg->discovery_port;
	/* A static list or a group replaces broadcasts unless interfaces
	 * are named too: a routed site (or a test on loopback) must not
	 * spray the local segment. */
	opts.broadcast = !listed || (cfg->interfaces && cfg->interfaces[0]);
	opts.interfaces = cfg->interfaces;
	opts.group = cfg->discovery_group[0] ? cfg->discovery_group : NULL;
	opts.peers = cfg->peers[0] ? cfg->peers : NULL;
	opts.allow = &net->peers.acl;
	opts.http_port = net->peers.http_port;
	opts.store = net->store;
	opts.released = on_disc_released;
	opts.seen = on_disc_seen;
	opts.cb_arg = net;
	opts.log = disc_log;
	opts.log_arg = net;
	/* A neighbour reading fast probes once per chunk or so: the
	 * per-source budget must not make a busy subnet look silent.  An
	 * answer is never larger than its probe, so this amplifies nothing. */
	opts.source_rate = 1000;
	opts.source_burst = 2000;
	opts.total_rate = 5000;
	opts.total_burst = 10000;
	if (cfg->fleet_key_file && cfg->fleet_key_file[0]) {
		size_t len;

		if (pc_disc_read_key(cfg->fleet_key_file, key, sizeof(key),
				     &len, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "fleet_key_file: %s", why);
			return -EINVAL;
		}
		opts.key = key;
		opts.key_len = len;
	}
	net->peers.disc = pc_disc_new(&net->loop, &opts, why, sizeof(why));
	memset(key, 0, sizeof(key));
	if (!net->peers.disc) {
		snprintf(err, errlen, "discovery: %s", why);
		return -EINVAL;
	}
	return 0;
}

int net_peers_init(struct pc_net *net, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	struct net_peers *p = &net->peers;
	char why[256];
	int rc;

	snprintf(p->head_path, sizeof(p->head_path), "%s/head",
		 pc_store_dir(net->store));
	if (!cfg->discovery && !cfg->peer_server)
		return 0;
	rc = pc_acl_add_local_subnets(&p->acl, false);
	if (rc < 0) {
		snprintf(err, errlen, "peer_allow: local subnets: %s",
			 strerror(-rc));
		return rc;
	}
	if (cfg->peer_allow && cfg->peer_allow[0] &&
	    pc_acl_parse(&p->acl, cfg->peer_allow, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "peer_allow: %s", why);
		return -EINVAL;
	}
	if (cfg->peer_server) {
		rc = start_server(net, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (cfg->discovery) {
		rc = start_discovery(net, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void net_peers_shutdown(struct pc_net *net)
{
	pc_disc_close(net->peers.disc);
	net->peers.disc = NULL;
}

void net_peers_free(struct pc_net *net)
{
	pc_peer_server_stop(net->peers.server);
	net->peers.server = NULL;
}

/* ---- released claims ---------------------------------------------------- */

static struct net_released *released_slot(struct pc_net *net,
					  const struct pc_hash *hash)
{
	size_t i = ((size_t)hash->bytes[0] | (size_t)hash->bytes[1] << 8) %
		   NET_RELEASED_SLOTS;

	return &net->peers.released[i];
}

bool net_peer_released_by(struct pc_net *net, const struct pc_hash *hash,
			  uint64_t max_age_ms, struct pc_disc_peer *out)
{
	const struct net_released *r = released_slot(net, hash);

	if (!r->at || uv_now(&net->loop) - r->at > max_age_ms ||
	    !pc_hash_equal(&r->hash, hash))
		return false;
	*out = r->peer;
	return true;
}

static void on_disc_released(void *arg, const struct pc_hash *hash,
			     const struct pc_disc_peer *peer)
{
	struct pc_net *net = arg;
	struct net_fetch *f = net_fetch_find(net, hash);
	struct net_released *r = released_slot(net, hash);

	/* Remembered even when nobody waits: an answer from it that comes
	 * late (a busy neighbour) must not send us to the mirror. */
	r->hash = *hash;
	r->peer = *peer;
	r->at = uv_now(&net->loop);
	if (r->at == 0)
		r->at = 1;

	if (!f || !f->wait_until || f->state != FETCH_RUNNING)
		return;
	net_peer_released(net, f, peer);
}
