/*
 * mirror.c - the mirrors as a source of chunks: GET MIRROR/chunks/ab/<hex>
 * over http, https or file://, its body handled like every chunk's
 * (chunk_rx.c).  A mirror URL is checked here once, for start-up and
 * --print-config alike.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net.h"

/* ---- the mirror source ------------------------------------------------------ */

static int mirror_start(struct pc_net *net, struct net_source *src,
			struct net_fetch *f, uint64_t time_left_ms)
{
	struct net_xfer_opts opts = {
		.scheme = src->scheme,
		.timeout_ms = time_left_ms,
	};
	char *url;
	int rc;

	net_chunk_reset(f);
	if (asprintf(&url, "%s/chunks/%.2s/%s", src->base, f->hex, f->hex) < 0)
		return -ENOMEM;
	opts.url = url;
	f->xfer = net_xfer_start(net, &opts, &net_chunk_xfer_ops, f, &rc);
	free(url);
	return f->xfer ? 0 : rc;
}

static void mirror_cancel(struct pc_net *net, struct net_fetch *f)
{
	net_chunk_cancel(net, f);
}

static const struct net_source_ops mirror_ops = {
	.kind = "mirror",
	.bytes_counter = PC_CTR_BYTES_FROM_MIRROR,
	.bad_counter = PC_CTR_BAD_FROM_MIRROR,
	.start = mirror_start,
	.cancel = mirror_cancel,
};

int net_mirror_url_check(const char *url, char scheme[8], size_t *prefix_len,
			 char *err, size_t errlen)
{
	static const char *const schemes[] = { "http", "https", "file" };
	size_t len, n = 0;
	CURLUcode uc;
	CURLU *u;

	for (size_t i = 0; i < 3 && !n; i++) {
		len = strlen(schemes[i]);
		if (strncasecmp(url, schemes[i], len) == 0 &&
		    strncmp(url + len, "://", 3) == 0) {
			n = len;
			strcpy(scheme, schemes[i]);
		}
	}
	if (!n) {
		snprintf(err, errlen,
			 "mirror %s: only http://, https:// and file:// URLs "
			 "are supported",
			 url);
		return -EINVAL;
	}
	u = curl_url();
	if (!u)
		return -ENOMEM;
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	curl_url_cleanup(u);
	if (uc != CURLUE_OK) {
		snprintf(err, errlen, "mirror %s: not a valid URL: %s", url,
			 curl_url_strerror(uc));
		return -EINVAL;
	}
	*prefix_len = n + 3;
	return 0;
}

static int mirror_init(struct net_source *src, const char *url, char *err,
		       size_t errlen)
{
	size_t len, prefix;
	int rc = net_mirror_url_check(url, src->scheme, &prefix, err, errlen);

	if (rc < 0)
		return rc;
	src->base = strdup(url);
	if (!src->base)
		return -ENOMEM;
	len = strlen(src->base);
	while (len > prefix && src->base[len - 1] == '/')
		src->base[--len] = '\0';
	src->ops = &mirror_ops;
	src->serves_head = true;
	return 0;
}

int net_mirrors_fit(size_t used, const struct pc_repo_config *repo, char *err,
		    size_t errlen)
{
	if (used + repo->nmirrors <= NET_MAX_SOURCES)
		return 0;
	snprintf(err, errlen,
		 "repository %s: more than %d mirrors in all repositories",
		 repo->name ? repo->name : "", NET_MAX_SOURCES - 1);
	return -E2BIG;
}

int net_mirrors_init(struct pc_net *net, struct pc_net_repo *repo, char *err,
		     size_t errlen)
{
	const struct pc_repo_config *cfg = repo->cfg;
	struct net_source src;
	int rc;

	rc = net_mirrors_fit(net->fetcher.nsources, cfg, err, errlen);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < cfg->nmirrors; i++) {
		memset(&src, 0, sizeof(src));
		rc = mirror_init(&src, cfg->mirrors[i], err, errlen);
		if (rc == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		if (rc < 0)
			return rc;
		src.repo = repo;
		net_source_add(net, &src);
	}
	return 0;
}
