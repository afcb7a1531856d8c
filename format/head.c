/*
 * head.c - the signed head: the one small file every node polls.
 *
 * The head names the repository, its version, validity window and the
 * manifest (by hash and size), followed by an Ed25519 signature over every
 * byte before the signature line.  The parser locates and checks the
 * signature before it looks at any other field, so an attacker's bytes are
 * never interpreted (docs/FORMAT.md, "Head").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "internal.h"

#define SIG_LEN 64
#define SIG_PREFIX "signature "
#define MAGIC "peercache-head"

bool pc_repo_name_valid(const char *name)
{
	return pc_repo_name_valid_len(name, strlen(name));
}

/* Splits @buf into the signed part and the parsed signature line. */
static int split_signature(const char *buf, size_t len, size_t *signed_len,
			   uint8_t keyid[PC_KEYID_LEN], uint8_t sig[SIG_LEN],
			   char *err, size_t errlen)
{
	const char *line, *keyhex, *sighex;
	size_t start, linelen;

	if (len > PC_HEAD_MAX)
		return pc_set_err(-EFBIG, err, errlen,
				  "head is %zu bytes, more than the %d allowed",
				  len, PC_HEAD_MAX);
	if (len == 0 || buf[len - 1] != '\n')
		return pc_set_err(-EBADMSG, err, errlen,
				  "head is truncated: it does not end with a "
				  "complete signature line");
	start = len - 1;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	line = buf + start;
	linelen = len - 1 - start;
	if (linelen < strlen(SIG_PREFIX) ||
	    memcmp(line, SIG_PREFIX, strlen(SIG_PREFIX)) != 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head is truncated: no signature line");
	keyhex = line + strlen(SIG_PREFIX);
	sighex = keyhex + 2 * PC_KEYID_LEN + 1;
	if (linelen !=
		    strlen(SIG_PREFIX) + 2 * PC_KEYID_LEN + 1 + 2 * SIG_LEN ||
	    keyhex[2 * PC_KEYID_LEN] != ' ' ||
	    fmt_hex_decode(keyhex, 2 * PC_KEYID_LEN, keyid, PC_KEYID_LEN) < 0 ||
	    fmt_hex_decode(sighex, 2 * SIG_LEN, sig, SIG_LEN) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head signature line is malformed");
	*signed_len = start;
	return 0;
}

static int verify_signature(EVP_PKEY *pkey, const char *data, size_t len,
			    const uint8_t sig[SIG_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	if (!md)
		return -ENOMEM;
	ok = EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestVerify(md, sig, SIG_LEN, (const unsigned char *)data,
			      len) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -EKEYREJECTED;
}

/* Expects "KEY VALUE" with exactly this key; returns the value. */
static int field(struct fmt_cursor *cur, const char *key, const char **value,
		 size_t *value_len, char *err, size_t errlen)
{
	const char *line;
	size_t len, keylen;

	if (fmt_cursor_line(cur, &line, &len) < 0 ||
	    fmt_split_word(line, len, &keylen, value, value_len) < 0 ||
	    keylen != strlen(key) || memcmp(line, key, keylen) != 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: expected field '%s'", key);
	return 0;
}

static int number_field(struct fmt_cursor *cur, const char *key, uint64_t max,
			uint64_t *out, char *err, size_t errlen)
{
	const char *value;
	size_t len;
	int rc = field(cur, key, &value, &len, err, errlen);

	if (rc < 0)
		return rc;
	if (fmt_parse_u64(value, len, max, out) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: field '%s' is not a valid number",
				  key);
	return 0;
}

/* The "name" line into @out->name. */
static int name_field(struct fmt_cursor *cur, struct pc_head *out, char *err,
		      size_t errlen)
{
	const char *value;
	size_t vlen;
	int rc;

	rc = field(cur, "name", &value, &vlen, err, errlen);
	if (rc < 0)
		return rc;
	if (vlen > PC_REPO_NAME_MAX)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: repository name is too long");
	memcpy(out->name, value, vlen);
	out->name[vlen] = '\0';
	if (strlen(out->name) != vlen || !pc_repo_name_valid(out->name))
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: invalid repository name");
	return 0;
}

static int parse_fields(const char *buf, size_t len, struct pc_head *out,
			char *err, size_t errlen)
{
	struct fmt_cursor cur = { buf, buf + len };
	uint64_t format, created, expires;
	const char *value;
	size_t vlen;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = field(&cur, MAGIC, &value, &vlen, err, errlen);
	if (rc < 0)
		return pc_set_err(rc, err, errlen, "not a peercache head");
	if (fmt_parse_u64(value, vlen, UINT32_MAX, &format) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: format version is not a number");
	if (format != PC_HEAD_FORMAT)
		return pc_set_err(-EPROTONOSUPPORT, err, errlen,
				  "head format %" PRIu64 " is not supported "
				  "(this build reads "
				  "%d)",
				  format, PC_HEAD_FORMAT);
	out->format = (uint32_t)format;
	rc = name_field(&cur, out, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = number_field(&cur, "version", UINT64_MAX, &out->version, err,
			       errlen)) < 0 ||
	    (rc = number_field(&cur, "created", INT64_MAX, &created, err,
			       errlen)) < 0 ||
	    (rc = number_field(&cur, "expires", INT64_MAX, &expires, err,
			       errlen)) < 0)
		return rc;
	out->created = (int64_t)created;
	out->expires = (int64_t)expires;
	if (out->expires <= out->created)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head expires (%" PRId64 ") before it was "
				  "created (%" PRId64 ")",
				  out->expires, out->created);

	rc = field(&cur, "manifest", &value, &vlen, err, errlen);
	if (rc < 0)
		return rc;
	if (pc_hash_from_hex(value, vlen, &out->manifest) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: manifest is not a SHA-256 hex id");
	rc = number_field(&cur, "manifest-size", PC_MANIFEST_MAX,
			  &out->manifest_size, err, errlen);
	if (rc < 0)
		return rc;
	if (cur.pos != cur.end)
		return pc_set_err(-EBADMSG, err, errlen,
				  "head: unexpected data before the signature");
	return 0;
}

int pc_head_parse(const void *buf, size_t len, const struct pc_keyring *ring,
		  struct pc_head *out, char *err, size_t errlen)
{
	uint8_t keyid[PC_KEYID_LEN], sig[SIG_LEN];
	char keyhex[2 * PC_KEYID_LEN + 1];
	size_t signed_len;
	EVP_PKEY *pkey;
	int rc;

	rc = split_signature(buf, len, &signed_len, keyid, sig, err, errlen);
	if (rc < 0)
		return rc;
	pkey = fmt_keyring_find(ring, keyid);
	if (!pkey) {
		fmt_hex_encode(keyid, PC_KEYID_LEN, keyhex);
		return pc_set_err(-ENOKEY, err, errlen,
				  "head is signed by untrusted key %s", keyhex);
	}
	rc = verify_signature(pkey, buf, signed_len, sig);
	if (rc == -EKEYREJECTED)
		return pc_set_err(rc, err, errlen,
				  "head signature does not verify (tampered or "
				  "corrupt head)");
	if (rc < 0)
		return pc_set_err(rc, err, errlen, "out of memory");
	rc = parse_fields(buf, signed_len, out, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(out->keyid, keyid, PC_KEYID_LEN);
	pc_sha256(buf, signed_len, &out->digest);
	return 0;
}

int pc_head_parse_unverified(const void *buf, size_t len, struct pc_head *out,
			     char *err, size_t errlen)
{
	uint8_t keyid[PC_KEYID_LEN], sig[SIG_LEN];
	size_t signed_len;
	int rc;

	rc = split_signature(buf, len, &signed_len, keyid, sig, err, errlen);
	if (rc < 0)
		return rc;
	rc = parse_fields(buf, signed_len, out, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(out->keyid, keyid, PC_KEYID_LEN);
	pc_sha256(buf, signed_len, &out->digest);
	return 0;
}

int pc_head_check_time(const struct pc_head *head, int64_t now, char *err,
		       size_t errlen)
{
	char when[32];

	if (head->created > now && head->created - now > PC_HEAD_CLOCK_SKEW)
		return pc_set_err(
			-EBADMSG, err, errlen,
			"head was created at %s, more than %d s "
			"ahead of this node's clock (check the "
			"clocks of the publisher and of this node)",
			pc_format_utc(head->created, when, sizeof(when)),
			PC_HEAD_CLOCK_SKEW);
	if (head->expires <= now)
		return pc_set_err(
			-EKEYEXPIRED, err, errlen, "head expired at %s",
			pc_format_utc(head->expires, when, sizeof(when)));
	return 0;
}

/*
 * The one head-acceptance policy (the daemon's head poller and
 * `peercachectl check` both call it): signature, repository, version,
 * time, in that order, so that both name the same first reason.  A head
 * of the version already accepted is not judged by the clock: it is what
 * the node has (its expiry makes the node stale, not failing).
 */
int pc_head_accept(const void *buf, size_t len, const struct pc_keyring *ring,
		   const struct pc_head_rules *rules, struct pc_head *head,
		   char *why, size_t whylen)
{
	const char *want = rules->repository;
	int rc;

	rc = pc_head_parse(buf, len, ring, head, why, whylen);
	if (rc < 0)
		return rc;
	if (!want || !want[0])
		want = rules->current;
	if (want && want[0] && strcmp(head->name, want) != 0)
		return pc_set_err(-EPERM, why, whylen,
				  "head is for repository '%s', not '%s'",
				  head->name, want);
	if (head->version == rules->highest)
		return 0;
	if (head->version < rules->highest)
		return pc_set_err(-ESTALE, why, whylen,
				  "rollback: head version %" PRIu64 " is lower "
				  "than the "
				  "highest "
				  "accepted "
				  "%" PRIu64,
				  head->version, rules->highest);
	/* Created in the future (beyond a clock skew) or expired. */
	rc = pc_head_check_time(head, rules->now, why, whylen);
	return rc < 0 ? rc : 1;
}

int pc_head_sign(const struct pc_head *head, const struct pc_key *key,
		 char **buf, size_t *len)
{
	char mhex[PC_HASH_HEX_LEN + 1], keyhex[2 * PC_KEYID_LEN + 1];
	char sighex[2 * SIG_LEN + 1];
	uint8_t sig[SIG_LEN], keyid[PC_KEYID_LEN];
	size_t siglen = SIG_LEN;
	char *text = NULL, *whole = NULL;
	EVP_MD_CTX *md = NULL;
	int n, rc = -EINVAL;

	if (!pc_repo_name_valid(head->name) || head->created < 0 ||
	    head->expires <= head->created ||
	    head->manifest_size > PC_MANIFEST_MAX)
		return -EINVAL;
	pc_hash_to_hex(&head->manifest, mhex);
	n = asprintf(&text,
		     MAGIC " %d\nname %s\nversion %" PRIu64 "\ncreated %" PRId64
			   "\nexpires %" PRId64 "\nmanifest %s\n"
			   "manifest-size %" PRIu64 "\n",
		     PC_HEAD_FORMAT, head->name, head->version, head->created,
		     head->expires, mhex, head->manifest_size);
	if (n < 0)
		return -ENOMEM;
	md = EVP_MD_CTX_new();
	if (!md ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, fmt_key_pkey(key)) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)text,
			   (size_t)n) != 1 ||
	    siglen != SIG_LEN)
		goto out;
	pc_key_id(key, keyid);
	fmt_hex_encode(keyid, PC_KEYID_LEN, keyhex);
	fmt_hex_encode(sig, SIG_LEN, sighex);
	n = asprintf(&whole, "%s" SIG_PREFIX "%s %s\n", text, keyhex, sighex);
	if (n < 0) {
		rc = -ENOMEM;
		goto out;
	}
	*buf = whole;
	*len = (size_t)n;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(text);
	return rc;
}
