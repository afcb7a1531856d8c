/*
 * peer_server.h - the HTTP server that hands this node's verified chunks
 * to its LAN peers (net/, internal).
 *
 *   GET  /p2p/<64 lowercase hex>  200 + the chunk file (sendfile), or
 *   HEAD /p2p/<64 lowercase hex>  404 when absent, 503 + Retry-After: 1
 *                                 when max_uploads bodies are in flight
 *   GET  /head                    the node's signed head, or 404
 *   /p2p/<anything else>          400
 *   any other path                404
 *   any other method              405 + Allow: GET, HEAD
 *   GET/HEAD /chunks/<ab>/<hex>   with mirror_serve on: mirror_serve.h
 *
 * Nothing else of the node is reachable through it.  Connections from
 * sources the ACL does not allow are closed as soon as they are accepted.
 * Connections are kept for further (also pipelined) requests; one that
 * does not send a whole request head within header_timeout_s is closed.
 * docs/PROTOCOL.md ("Peer HTTP server") is the wire contract.
 *
 * Threads: libmicrohttpd runs the server on one internal epoll thread of
 * its own.  Every function below may be called from any thread, except
 * that pc_peer_server_stop() must not race with other calls on the same
 * server (the owner stops it once, after everyone else is done with it).
 */
#ifndef PC_NET_PEER_SERVER_H
#define PC_NET_PEER_SERVER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "mirror_serve.h"
#include "pc_config.h"
#include "pc_store.h"

#define PC_PEER_SERVER_PORT 8081
#define PC_PEER_SERVER_MAX_UPLOADS 50
/* Peers with their own line in the statistics; others share no line. */
#define PC_PEER_SERVER_MAX_PEERS 64

struct pc_peer_server_opts {
	/* 8081 by default; 0 picks a free port (see pc_peer_server_port). */
	uint16_t port;
	/* IPv4 or IPv6 address to listen on (IPv6 may be in brackets);
	 * NULL or "" = every address of both families (one dual-stack
	 * socket; IPv4 only on a host without IPv6). */
	const char *bind_address;
	/* Chunk bodies sent at once; more GETs get 503 (>= 1, default 50). */
	unsigned max_uploads;
	/* Open connections in total.  0 = the default, 4 * max_uploads (at
	 * least 64), so that a peer over the upload limit gets a 503 it can
	 * act on, not a reset.  A connection over it takes the place of the
	 * one that has waited longest for a request head, or is refused when
	 * every one is answering a request. */
	unsigned max_connections;
	/* Open connections per source address (default 8; 0 = no
	 * per-source limit), enforced like max_connections among the
	 * address's own connections.  Must be at least the parallel fetches
	 * a peer makes to one node. */
	unsigned per_client_max;
	/* Seconds a connection may take to send a whole request head (line
	 * and headers), from its accept or from the end of the previous
	 * answer, however slowly it trickles in (>= 1, default 5). */
	unsigned header_timeout_s;
	/* Seconds a connection answering a request may stay silent (no byte
	 * read or sent) before it is closed: a stalled reader does not keep
	 * its upload slot (>= 1, default 10). */
	unsigned timeout_s;
	/* A file served at GET/HEAD /head (the node's signed head), read at
	 * each request; NULL: /head is 404. */
	const char *head_path;
	/* Sources allowed to connect.  Copied at start (and by
	 * pc_peer_server_set_acl); required: there is no "allow all"
	 * default, 0.0.0.0/0 must be said explicitly. */
	const struct pc_acl *allow;
	/* mirror_serve = on: GET/HEAD /chunks/ served to these clients too
	 * (mirror_serve.h; they are let in besides @allow, and get only
	 * /head and /chunks/).  NULL: off. */
	const struct mirror_serve_opts *mirror;
};

struct pc_peer_server_peer {
	struct pc_addr addr;
	uint64_t chunks; /* GET bodies sent completely */
	uint64_t bytes;
};

struct pc_peer_server_stats {
	uint64_t chunks_served;	  /* GET bodies sent completely */
	uint64_t bytes_served;	  /* their bytes */
	uint64_t uploads_aborted; /* GET bodies cut short (peer left, timeout) */
	/* 503s: max_uploads bodies in flight (or, rarely, no descriptor
	 * left to open the chunk with). */
	uint64_t refused_limit;
	uint64_t refused_acl; /* connections from sources not allowed */
	uint64_t not_found;   /* 404 for a chunk this node lacks */
	/* 400, 404 (other paths), 405.  Requests libmicrohttpd refuses on
	 * its own (431 for headers over the per-connection memory, broken
	 * HTTP) are not counted: libmicrohttpd does not report them. */
	uint64_t bad_requests;
	/* Connections refused at accept: over a limit, and every connection
	 * allowed busy answering a request. */
	uint64_t refused_connections;
	/* Connections closed because their request head did not arrive in
	 * time, or to make room for a new one over a limit. */
	uint64_t closed_idle;
	unsigned uploads_in_flight;
	/* Peers that received the most bytes, most first.  The table keeps
	 * PC_PEER_SERVER_MAX_PEERS sources; when it is full a new source
	 * replaces the one that received the fewest bytes. */
	size_t npeers;
	struct pc_peer_server_peer peers[PC_PEER_SERVER_MAX_PEERS];
};

/* Fills @opts with the defaults above; allow stays NULL. */
void pc_peer_server_opts_init(struct pc_peer_server_opts *opts);

/*
 * Listens and starts serving chunks of @store (borrowed: it must outlive
 * the server).  Chunks served are also counted in the store's
 * PC_CTR_CHUNKS_SERVED_PEERS and PC_CTR_BYTES_SERVED_PEERS.  NULL with
 * @err set and errno set on failure: EINVAL (bad options, no ACL),
 * EADDRINUSE or another reason to be unable to listen (EIO when
 * libmicrohttpd does not say), ENOMEM.  Caller owns the result; release
 * it with pc_peer_server_stop().
 */
struct pc_peer_server *
pc_peer_server_start(struct pc_store *store,
		     const struct pc_peer_server_opts *opts, char *err,
		     size_t errlen);
/* The port it listens on (the chosen one when opts->port was 0). */
uint16_t pc_peer_server_port(const struct pc_peer_server *server);
/* Replaces the ACL (copied), e.g. after the node's addresses changed.
 * Open connections are not re-checked; new ones are. */
void pc_peer_server_set_acl(struct pc_peer_server *server,
			    const struct pc_acl *allow);
/* A consistent-enough snapshot: each field is exact, fields are read one
 * after another while the server runs. */
void pc_peer_server_stats(struct pc_peer_server *server,
			  struct pc_peer_server_stats *out);
/* The mirror's counters (mirror_serve = on): true, or false if off. */
bool pc_peer_server_mirror_stats(struct pc_peer_server *server,
				 struct mirror_serve_stats *out);
/* True if @addr downloaded a whole chunk from this server (one of the
 * PC_PEER_SERVER_MAX_PEERS sources counted).  Any thread. */
bool pc_peer_server_served(struct pc_peer_server *server, struct pc_addr addr);
/* Closes the listening socket and every connection (uploads in flight
 * are cut), joins the server's thread and frees @server.  NULL is a
 * no-op. */
void pc_peer_server_stop(struct pc_peer_server *server);

/* For the HTTP answers of net/ (the peer server, mirror_serve.c): a
 * persistent text/plain response with @body and one more header (NULL:
 * none), or NULL without memory; and the freeing of @n of them (each
 * pointer set to NULL, NULL ones skipped). */
struct MHD_Response;
struct MHD_Response *peer_server_canned(const char *body, const char *header,
					const char *value);
void peer_server_canned_free(struct MHD_Response **const all[], size_t n);

#endif /* PC_NET_PEER_SERVER_H */
