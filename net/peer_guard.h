/*
 * peer_guard.h - who may hold a connection to the peer server, and for
 * how long (net/, internal to peer_server.c).
 *
 * The guard keeps the list of the server's open connections and enforces
 * the connection limits (in total and per source address) and the
 * deadline for a whole request head.  A connection over a limit takes the
 * place of the one that has waited longest for a request head; only when
 * every connection is answering a request is it refused.  A watchdog
 * thread shuts down the sockets of connections whose head is late.
 * docs/PROTOCOL.md ("Who is served, and limits") is the contract.
 *
 * Threads: admit, opened, closed and busy run on libmicrohttpd's thread
 * (one at a time); the watchdog on its own; stats anywhere.  The server
 * closes a connection's socket only after peer_guard_closed() returned,
 * so the watchdog never shuts down a descriptor that was reused.
 */
#ifndef PC_NET_PEER_GUARD_H
#define PC_NET_PEER_GUARD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "pc_config.h"

struct peer_guard;
struct peer_conn;

struct peer_guard_opts {
	unsigned max_connections;  /* in total, >= 1 */
	unsigned per_address;	   /* per source address (the caller passes
				      an IPv6 one as its /64); 0: none */
	unsigned header_timeout_s; /* for a whole request head, >= 1 */
};

/* Starts the watchdog.  Caller owns the result: peer_guard_stop(), then
 * (once every connection was reported closed) peer_guard_free().  NULL
 * with errno set. */
struct peer_guard *peer_guard_start(const struct peer_guard_opts *opts);
/* Ends the watchdog: no socket is shut down after this returns. */
void peer_guard_stop(struct peer_guard *guard);
/* NULL is a no-op. */
void peer_guard_free(struct peer_guard *guard);

/* A connection from @addr is about to be accepted: true if it may (room
 * was made if needed, by shutting down the connection that waited
 * longest), false if it must be refused (counted). */
bool peer_guard_admit(struct peer_guard *guard, struct pc_addr addr);
/* It was accepted on socket @fd: its record (NULL if out of memory: then
 * it is not tracked), waiting for its first request head. */
struct peer_conn *peer_guard_opened(struct peer_guard *guard, int fd,
				    struct pc_addr addr);
/* It is closed (@conn may be NULL); its record is freed. */
void peer_guard_closed(struct peer_guard *guard, struct peer_conn *conn);
/* A request head arrived (@busy), or the answer ended and the connection
 * waits for the next one.  @conn may be NULL. */
void peer_guard_busy(struct peer_guard *guard, struct peer_conn *conn,
		     bool busy);

struct peer_guard_stats {
	uint64_t refused; /* connections refused at accept */
	uint64_t closed;  /* shut down: late request head, or to make room */
};

void peer_guard_stats(struct peer_guard *guard, struct peer_guard_stats *out);

#endif /* PC_NET_PEER_GUARD_H */
