/*
 * fuzz_manifest.c - libFuzzer target for pc_manifest_parse().
 *
 * Besides crashes and leaks, it checks the promise that one tree has one
 * encoding: whatever the parser accepts, serializing the parsed manifest
 * gives back exactly the input bytes, and those parse again to the same
 * number of entries.  A refused input always comes with a message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(struct pc_manifest *m, const uint8_t *data,
			     size_t size)
{
	struct pc_manifest *again = NULL;
	char *buf = NULL, err[256] = "";
	size_t len;

	if (pc_manifest_serialize(m, &buf, &len) != 0) {
		fprintf(stderr, "fuzz_manifest: cannot serialize a parsed "
				"manifest\n");
		abort();
	}
	if (pc_manifest_parse(buf, len, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_manifest: re-parse failed: %s\n", err);
		abort();
	}
	if (again->nentries != m->nentries) {
		fprintf(stderr, "fuzz_manifest: %zu entries became %zu\n",
			m->nentries, again->nentries);
		abort();
	}
	if (len != size || memcmp(buf, data, size) != 0) {
		fprintf(stderr, "fuzz_manifest: accepted a non-canonical "
				"manifest\n");
		abort();
	}
	pc_manifest_free(again);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_manifest *m = NULL;
	char err[256] = "";
	int rc;

	rc = pc_manifest_parse(data, size, &m, err, sizeof(err));
	if (rc == 0) {
		check_round_trip(m, data, size);
		pc_manifest_free(m);
	} else if (err[0] == '\0' ||
		   (rc != -EBADMSG && rc != -EPROTONOSUPPORT &&
		    rc != -ENOMEM)) {
		fprintf(stderr, "fuzz_manifest: refusal %d with message '%s'\n",
			rc, err);
		abort();
	}
	return 0;
}
