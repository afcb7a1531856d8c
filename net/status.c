/*
 * status.c - what the polls found (the state, the last error, the source,
 * the version being installed), kept under status.lock for any thread:
 * pc_net_status() answers fs/ and the control socket from it.
 */
#include <errno.h>
#include <stdio.h>

#include "net.h"

const char *pc_net_state_name(enum pc_net_state state)
{
	switch (state) {
	case PC_STATE_STARTING:
		return "starting";
	case PC_STATE_UP_TO_DATE:
		return "up_to_date";
	case PC_STATE_STALE:
		return "stale";
	case PC_STATE_FAILING:
		return "failing";
	case PC_STATE_DEGRADED:
		return "degraded";
	}
	return "unknown";
}

void pc_net_repo_status(struct pc_net_repo *repo, struct pc_net_status *out)
{
	pthread_mutex_lock(&repo->status.lock);
	*out = repo->status.st;
	/* Up to date with a head that has since expired: stale. */
	if (out->state == PC_STATE_UP_TO_DATE && repo->status.current_expires &&
	    net_unix_now() >= repo->status.current_expires)
		out->state = PC_STATE_STALE;
	pthread_mutex_unlock(&repo->status.lock);
}

void net_status_poll_started(struct pc_net_repo *repo)
{
	NET_LOOP_ONLY(repo->net);

	pthread_mutex_lock(&repo->status.lock);
	repo->status.st.last_poll = net_unix_now();
	pthread_mutex_unlock(&repo->status.lock);
}

void net_status_poll_ended(struct pc_net_repo *repo, int result,
			   const char *error, const char *source)
{
	NET_LOOP_ONLY(repo->net);

	pthread_mutex_lock(&repo->status.lock);
	if (result == 0) {
		repo->status.st.state = PC_STATE_UP_TO_DATE;
		repo->status.st.last_poll_ok = net_unix_now();
		repo->status.st.last_error[0] = '\0';
		snprintf(repo->status.st.source, sizeof(repo->status.st.source),
			 "%s", source);
	} else if (result != -ECANCELED) {
		repo->status.st.state = PC_STATE_FAILING;
		snprintf(repo->status.st.last_error,
			 sizeof(repo->status.st.last_error), "%s", error);
	}
	pthread_mutex_unlock(&repo->status.lock);
}

void net_status_set_current(struct pc_net_repo *repo, int64_t expires)
{
	pthread_mutex_lock(&repo->status.lock);
	repo->status.current_expires = expires;
	pthread_mutex_unlock(&repo->status.lock);
}

void net_status_installing(struct pc_net_repo *repo, uint64_t version)
{
	pthread_mutex_lock(&repo->status.lock);
	repo->status.st.installing = version;
	repo->status.st.installing_since = version ? net_unix_now() : 0;
	pthread_mutex_unlock(&repo->status.lock);
}
