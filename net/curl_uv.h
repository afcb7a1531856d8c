/*
 * curl_uv.h - one HTTP(S) or file:// GET on the loop thread: libcurl's
 * multi interface driven by libuv (curl_uv.c).
 */
#ifndef PC_NET_CURL_UV_H
#define PC_NET_CURL_UV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "pc_list.h"

struct pc_net;

/* Body bytes of a non-200 response read and thrown away (so that the
 * connection can be reused) before the transfer is cut instead. */
#define NET_DISCARD_MAX (64 * 1024)
/* Easy handles kept for the next transfers (curl_uv.c). */
#define NET_CURL_IDLE_MAX 16

/* ---- curl transfers on libuv (curl_uv.c) -------------------------------- */

/* The multi handle and what drives it; loop thread only. */
struct net_curl {
	CURLM *multi;
	CURL *idle[NET_CURL_IDLE_MAX]; /* easy handles to reuse */
	size_t idle_count;
	uv_timer_t timer;
	struct pc_list socks; /* the sockets libcurl asked us to watch */
	/* Head polls ask caches and proxies in between to revalidate. */
	struct curl_slist *no_cache_headers;
};

struct net_xfer;

struct net_xfer_result {
	int err;	     /* 0, or the transport error as -errno */
	long status;	     /* HTTP status; 200 for a file:// success */
	const char *message; /* transport error text, "" if none */
};

struct net_xfer_ops {
	/* Body bytes of the final response; false aborts the transfer. */
	bool (*data)(struct net_xfer *xfer, const void *buf, size_t len);
	/* The transfer ended; @xfer is freed when this returns.  Never
	 * called for a cancelled transfer. */
	void (*done)(struct net_xfer *xfer, const struct net_xfer_result *res);
};

struct net_xfer_opts {
	const char *url;
	const char *scheme;  /* the only scheme redirects may go to */
	uint64_t timeout_ms; /* whole transfer (CURLOPT_TIMEOUT_MS) */
	bool no_cache;	     /* ask caches in between to revalidate */
	/* 0: the configured value.  Peers get shorter ones. */
	uint64_t connect_timeout_ms;
	uint64_t low_speed_time_s;
	bool direct;	  /* no proxy (LAN peers) */
	bool no_redirect; /* a 3xx is the answer (LAN peers) */
};

struct net_xfer {
	struct pc_net *net;
	CURL *easy;
	const struct net_xfer_ops *ops;
	void *ctx; /* the caller's */
	char *url; /* owned */
	bool is_file;
	char errbuf[CURL_ERROR_SIZE];
};

int net_curl_init(struct pc_net *net, char *err, size_t errlen);
/* Closes every curl socket handle and the timer; frees the multi handle.
 * No transfer may be left. */
void net_curl_shutdown(struct pc_net *net);
/* NULL with *@err set (-ENOMEM, -EINVAL). */
struct net_xfer *net_xfer_start(struct pc_net *net,
				const struct net_xfer_opts *opts,
				const struct net_xfer_ops *ops, void *ctx,
				int *err);
/* Removes and frees @xfer; no callback follows. */
void net_xfer_cancel(struct net_xfer *xfer);
/* Status of the response being received (200 for file://). */
long net_xfer_status(struct net_xfer *xfer);
/* The one place CURLcode becomes an errno. */
int net_curl_errno(CURLcode code);

#endif /* PC_NET_CURL_UV_H */
