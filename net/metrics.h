/*
 * metrics.h - the Prometheus endpoint (metrics.c).
 */
#ifndef PC_NET_METRICS_H
#define PC_NET_METRICS_H

#include <stddef.h>

struct pc_net;

/* ---- Prometheus metrics (metrics.c) --------------------------------------- */

struct net_metrics;
union pc_sockaddr;

/* The address metrics_listen names (see metrics.c); -EINVAL with @err
 * set.  Start-up and --print-config. */
int net_metrics_parse_listen(const char *text, union pc_sockaddr *out,
			     char *err, size_t errlen);

/* Before the loop runs: serves metrics_listen (if set) on a
 * libmicrohttpd thread of its own, and arms the timer that copies the
 * loop thread's values for it.  0 or -errno with @err set. */
int net_metrics_init(struct pc_net *net, char *err, size_t errlen);
/* Loop thread, shutting down: stops the server (joins its thread) and
 * closes the timer. */
void net_metrics_shutdown(struct pc_net *net);

#endif /* PC_NET_METRICS_H */
