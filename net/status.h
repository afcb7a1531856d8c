/*
 * status.h - what the polls found, for any thread (status.c).
 */
#ifndef PC_NET_STATUS_H
#define PC_NET_STATUS_H

#include <pthread.h>
#include <stdint.h>

#include "pc_net.h"

/* What the polls found, for any thread. */
struct net_status {
	pthread_mutex_t lock;
	struct pc_net_status st; /* guarded by lock */
	int64_t current_expires; /* guarded by lock; 0: none */
};

/* Fills the status fields after a poll (any thread that owns no lock). */
void net_status_poll_started(struct pc_net_repo *repo);
void net_status_poll_ended(struct pc_net_repo *repo, int result,
			   const char *error, const char *source);
void net_status_set_current(struct pc_net_repo *repo, int64_t expires);
/* The status's "installing" (0: none). */
void net_status_installing(struct pc_net_repo *repo, uint64_t version);

#endif /* PC_NET_STATUS_H */
