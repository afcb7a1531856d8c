/*
 * repo.h - struct pc_net_repo, what the net keeps per repository.
 */
#ifndef PC_NET_REPO_H
#define PC_NET_REPO_H

#include <stddef.h>

#include "pc_net.h"

struct pc_net_repo {
	struct pc_net *net; /* set at creation, read-only: any thread */
	size_t index;	    /* in cfg->repos[] */
};

#endif /* PC_NET_REPO_H */
