/*
 * fuzz_head.c - libFuzzer target for the head parsers.
 *
 * pc_head_parse() runs with a keyring that trusts one fixed test-only key
 * (testkey.pem.pub next to this file, the key that signed the seed heads
 * in corpus/head/), so that the fuzzer starts from heads that get past the
 * signature.  pc_head_parse_unverified() sees every input too.
 *
 * Besides crashes, the target checks what the format promises:
 *  - a refused head always comes with a message;
 *  - a head that parses is canonical: signing the parsed fields with the
 *    test key gives back exactly the signed text of the input (and, when
 *    the input verified, the whole input, as Ed25519 is deterministic).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pc_format.h"

#define SIG_LINE_LEN 156 /* "signature " + 16 hex + " " + 128 hex + "\n" */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pc_keyring *ring;
static struct pc_key *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512] = "";

	(void)argc;
	(void)argv;
	ring = pc_keyring_new();
	key = pc_key_load(PC_FUZZ_KEY, err, sizeof(err));
	if (!ring || !key ||
	    pc_keyring_add_file(ring, PC_FUZZ_KEY ".pub", err, sizeof(err))) {
		fprintf(stderr, "fuzz_head: cannot load the test key: %s\n",
			err);
		abort();
	}
	return 0;
}

/* The bytes pc_head_sign() writes for @head must be @data's own. */
static void check_canonical(const struct pc_head *head, const uint8_t *data,
			    size_t size, bool whole)
{
	char *buf = NULL;
	size_t len;

	if (pc_head_sign(head, key, &buf, &len) != 0)
		abort(); /* every parsed head must be signable */
	if (size < SIG_LINE_LEN || len != size ||
	    memcmp(buf, data, whole ? len : len - SIG_LINE_LEN) != 0) {
		fprintf(stderr, "fuzz_head: accepted a non-canonical head\n");
		abort();
	}
	free(buf);
}

static void check_refusal(int rc, const char *err)
{
	if (rc >= 0 || err[0] == '\0') {
		fprintf(stderr, "fuzz_head: refusal %d without a message\n",
			rc);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_head head;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = pc_head_parse(data, size, ring, &head, err, sizeof(err));
	if (rc == 0)
		check_canonical(&head, data, size, true);
	else
		check_refusal(rc, err);

	err[0] = '\0';
	rc = pc_head_parse_unverified(data, size, &head, err, sizeof(err));
	if (rc == 0)
		check_canonical(&head, data, size, false);
	else
		check_refusal(rc, err);

	/* A NULL message buffer must be fine too. */
	pc_head_parse_unverified(data, size, &head, NULL, 0);
	return 0;
}
