/*
 * config_check.c - what start-up refuses in a configuration, checked
 * without starting anything: `peercache --print-config` exits 2 for the
 * same values the daemon would refuse, instead of printing them.
 *
 * Each check here is the function start-up itself calls (the mirror URL
 * check of the source list, the ACL parser of the peer services, the
 * metrics address parser, the fleet key reader, the group lookup of the
 * control socket, the key loader of the keyring), so the two cannot
 * disagree.  Only what needs the network or a port is left to start-up:
 * resolving the static peers, binding sockets.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "acl.h"
#include "net.h"

static int check_mirrors(const struct pc_repo_config *repo, char *err,
			 size_t errlen)
{
	char scheme[8];
	size_t prefix;
	int rc;

	for (size_t i = 0; i < repo->nmirrors; i++) {
		rc = net_mirror_url_check(repo->mirrors[i], scheme, &prefix,
					  err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int check_keys(const struct pc_repo_config *repo, char *err,
		      size_t errlen)
{
	struct pc_keyring *ring = pc_keyring_new();
	char why[512];
	int rc = ring ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < repo->ntrusted_keys; i++) {
		rc = pc_keyring_add_file(ring, repo->trusted_keys[i], why,
					 sizeof(why));
		if (rc < 0)
			snprintf(err, errlen, "trusted_key: %s", why);
	}
	pc_keyring_free(ring);
	return rc;
}

/* Every repository's mirrors and keys (pc_config.h: repos[]); a message
 * names the section of a [repository NAME] one.  The mirrors of all
 * repositories share the fetcher's sources, after the LAN peers' one when
 * discovery is on (net_peer_src_init), counted in start-up's order. */
static int check_repos(const struct pc_config *cfg, char *err, size_t errlen)
{
	size_t used = cfg->discovery ? 1 : 0;
	char why[640];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < cfg->nrepos; i++) {
		const struct pc_repo_config *repo = &cfg->repos[i];

		rc = net_mirrors_fit(used, repo, err, errlen);
		if (rc < 0)
			return rc; /* start-up's message, as it is */
		used += repo->nmirrors;
		rc = check_mirrors(repo, why, sizeof(why));
		if (rc == 0)
			rc = check_keys(repo, why, sizeof(why));
		if (rc < 0 && cfg->repo_sections)
			snprintf(err, errlen, "[repository %s]: %s", repo->name,
				 why);
		else if (rc < 0)
			snprintf(err, errlen, "%s", why);
	}
	return rc;
}

/* The LAN side, as net_peers_init reads it (only when peers are on). */
static int check_peers(const struct pc_config *cfg, char *err, size_t errlen)
{
	uint8_t key[PC_DISC_KEY_MAX];
	struct pc_acl acl = { 0 };
	char why[256];
	size_t len;
	int rc;

	if (!cfg->discovery && !cfg->peer_server)
		return 0;
	if (cfg->peer_allow && cfg->peer_allow[0] &&
	    pc_acl_parse(&acl, cfg->peer_allow, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "peer_allow: %s", why);
		return -EINVAL;
	}
	memset(&acl, 0, sizeof(acl));
	if (cfg->mirror_serve &&
	    pc_acl_parse(&acl, cfg->mirror_allow, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "mirror_allow: %s", why);
		return -EINVAL;
	}
	if (cfg->discovery && cfg->fleet_key_file && cfg->fleet_key_file[0]) {
		rc = pc_disc_read_key(cfg->fleet_key_file, key, sizeof(key),
				      &len, why, sizeof(why));
		memset(key, 0, sizeof(key));
		if (rc < 0) {
			snprintf(err, errlen, "fleet_key_file: %s", why);
			return -EINVAL;
		}
	}
	return 0;
}

int pc_net_check_config(const struct pc_config *cfg, char *err, size_t errlen)
{
	union pc_sockaddr addr;
	gid_t gid;
	int rc;

	rc = check_repos(cfg, err, errlen);
	if (rc == 0)
		rc = check_peers(cfg, err, errlen);
	if (rc == 0 && cfg->metrics_listen && cfg->metrics_listen[0])
		rc = net_metrics_parse_listen(cfg->metrics_listen, &addr, err,
					      errlen);
	if (rc == 0 && cfg->control_group && cfg->control_group[0])
		rc = net_control_group_gid(cfg->control_group, &gid, err,
					   errlen);
	return rc;
}
