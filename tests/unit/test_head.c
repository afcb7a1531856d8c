/*
 * test_head.c - the signed head and the keys behind it: what pc_head_sign
 * writes pc_head_parse reads back; a trusted key set may hold several keys
 * (rotation); and every way a head can be forged, damaged or cut short is
 * refused with the code and message docs/FORMAT.md promises.
 *
 * Some heads must be correctly signed yet wrong (format 2, a malformed
 * field).  pc_head_sign cannot write those, so sign_text() signs arbitrary
 * text with the private key read straight from its PEM file through
 * OpenSSL; test_head_raw_signer_matches_pc_head_sign shows that it signs
 * exactly as the library does.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "helpers.h"
#include "pc_format.h"

#define SIG_LINE_LEN 156 /* "signature " + 16 hex + " " + 128 hex + "\n" */

struct fixture {
	char *dir;
	char *key_a_file, *key_b_file;
	struct pc_key *key_a, *key_b;
	struct pc_keyring *ring_a;  /* trusts key A */
	struct pc_keyring *ring_ab; /* trusts A and B (rotation) */
};

static struct pc_key *make_key(const char *dir, const char *name,
			       char **keyfile)
{
	char err[512] = "";
	struct pc_key *key;

	*keyfile = pc_test_path(dir, name);
	assert_ok(pc_key_generate(*keyfile, err, sizeof(err)), err);
	key = pc_key_load(*keyfile, err, sizeof(err));
	if (!key) {
		print_error("pc_key_load: %s\n", err);
		fail();
	}
	return key;
}

static void trust(struct pc_keyring *ring, const char *keyfile)
{
	char err[512] = "", *pubfile = NULL;

	assert_true(asprintf(&pubfile, "%s.pub", keyfile) > 0);
	assert_ok(pc_keyring_add_file(ring, pubfile, err, sizeof(err)), err);
	free(pubfile);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->dir = pc_test_tmpdir();
	fx->key_a = make_key(fx->dir, "a.key", &fx->key_a_file);
	fx->key_b = make_key(fx->dir, "b.key", &fx->key_b_file);
	fx->ring_a = pc_keyring_new();
	fx->ring_ab = pc_keyring_new();
	assert_non_null(fx->ring_a);
	assert_non_null(fx->ring_ab);
	trust(fx->ring_a, fx->key_a_file);
	trust(fx->ring_ab, fx->key_a_file);
	trust(fx->ring_ab, fx->key_b_file);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	pc_keyring_free(fx->ring_ab);
	pc_keyring_free(fx->ring_a);
	pc_key_free(fx->key_b);
	pc_key_free(fx->key_a);
	free(fx->key_b_file);
	free(fx->key_a_file);
	pc_test_rmtree(fx->dir);
	free(fx);
	return 0;
}

static struct pc_head sample_head(void)
{
	struct pc_head head = {
		.format = PC_HEAD_FORMAT,
		.name = "demo",
		.version = 42,
		.created = 1700000000,
		.expires = 1700604800,
		.manifest_size = 1234,
	};

	pc_sha256("manifest", 8, &head.manifest);
	return head;
}

static char *sign_head(const struct pc_head *head, const struct pc_key *key,
		       size_t *len)
{
	char *buf = NULL;

	assert_ok(pc_head_sign(head, key, &buf, len), NULL);
	assert_non_null(buf);
	return buf;
}

static void hex(const uint8_t *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* @text followed by a signature line made with @keyfile's private key. */
static char *sign_text(const char *keyfile, const struct pc_key *key,
		       const char *text, size_t len, size_t *outlen)
{
	uint8_t sig[64], id[PC_KEYID_LEN];
	char sighex[129], idhex[2 * PC_KEYID_LEN + 1], *out;
	size_t siglen = sizeof(sig);
	FILE *f = fopen(keyfile, "re");
	EVP_PKEY *pkey;
	EVP_MD_CTX *md;

	assert_non_null(f);
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(pkey);
	md = EVP_MD_CTX_new();
	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, pkey), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen,
					(const unsigned char *)text, len),
			 1);
	assert_int_equal(siglen, sizeof(sig));
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	pc_key_id(key, id);
	hex(id, sizeof(id), idhex);
	hex(sig, sizeof(sig), sighex);
	*outlen = len + SIG_LINE_LEN;
	out = malloc(*outlen + 1);
	assert_non_null(out);
	memcpy(out, text, len);
	sprintf(out + len, "signature %s %s\n", idhex, sighex);
	assert_int_equal(strlen(out + len), SIG_LINE_LEN);
	return out;
}

/* The signed text of the sample head with @from replaced by @to
 * (@to_len bytes, which may include NUL), signed with key A. */
static char *signed_variant(struct fixture *fx, const char *from,
			    const char *to, size_t to_len, size_t *outlen)
{
	struct pc_head head = sample_head();
	size_t len, textlen, at, fromlen = strlen(from);
	char *canon = NULL, *found, *text, *out;

	assert_ok(pc_head_sign(&head, fx->key_a, &canon, &len), NULL);
	textlen = len - SIG_LINE_LEN;
	canon[textlen] = '\0';
	found = strstr(canon, from);
	assert_non_null(found);
	at = (size_t)(found - canon);
	text = malloc(textlen - fromlen + to_len);
	assert_non_null(text);
	memcpy(text, canon, at);
	memcpy(text + at, to, to_len);
	memcpy(text + at + to_len, canon + at + fromlen,
	       textlen - at - fromlen);
	textlen = textlen - fromlen + to_len;
	out = sign_text(fx->key_a_file, fx->key_a, text, textlen, outlen);
	free(text);
	free(canon);
	return out;
}

static int parse(const struct fixture *fx, const char *buf, size_t len,
		 struct pc_head *out, char *err, size_t errlen)
{
	char *copy = pc_test_exact_copy(buf, len);
	int rc;

	err[0] = '\0';
	rc = pc_head_parse(copy, len, fx->ring_a, out, err, errlen);
	free(copy);
	return rc;
}

static void assert_heads_equal(const struct pc_head *a, const struct pc_head *b)
{
	assert_int_equal(a->format, b->format);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->created, b->created);
	assert_int_equal(a->expires, b->expires);
	assert_true(pc_hash_equal(&a->manifest, &b->manifest));
	assert_int_equal(a->manifest_size, b->manifest_size);
}

/* ---- what is signed is what is read ------------------------------------ */

static void test_head_sign_then_parse_gives_same_fields(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	uint8_t id[PC_KEYID_LEN];
	char err[512], *buf;
	size_t len;

	buf = sign_head(&head, fx->key_a, &len);
	assert_ok(parse(fx, buf, len, &parsed, err, sizeof(err)), err);
	assert_heads_equal(&head, &parsed);
	pc_key_id(fx->key_a, id);
	assert_memory_equal(parsed.keyid, id, PC_KEYID_LEN);
	free(buf);
}

static void test_head_fields_at_their_limits_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	char err[512], *buf;
	size_t len;

	memset(head.name, 'n', PC_REPO_NAME_MAX);
	head.name[PC_REPO_NAME_MAX] = '\0';
	head.version = UINT64_MAX;
	head.created = 0;
	head.expires = INT64_MAX;
	head.manifest_size = PC_MANIFEST_MAX;
	buf = sign_head(&head, fx->key_a, &len);
	assert_ok(parse(fx, buf, len, &parsed, err, sizeof(err)), err);
	assert_heads_equal(&head, &parsed);
	free(buf);
}

static void test_head_raw_signer_matches_pc_head_sign(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head();
	size_t len, rawlen;
	char *buf = sign_head(&head, fx->key_a, &len);
	char *raw = sign_text(fx->key_a_file, fx->key_a, buf,
			      len - SIG_LINE_LEN, &rawlen);

	/* Ed25519 is deterministic: same key, same text, same bytes. */
	assert_int_equal(rawlen, len);
	assert_memory_equal(raw, buf, len);
	free(raw);
	free(buf);
}

static void test_head_parse_unverified_reads_fields_without_keys(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	uint8_t id[PC_KEYID_LEN];
	char err[512] = "", *buf;
	size_t len;

	head.version = 7;
	buf = sign_head(&head, fx->key_b, &len); /* B is not in ring_a */
	assert_ok(pc_head_parse_unverified(buf, len, &parsed, err, sizeof(err)),
		  err);
	assert_heads_equal(&head, &parsed);
	pc_key_id(fx->key_b, id);
	assert_memory_equal(parsed.keyid, id, PC_KEYID_LEN);
	/* It still refuses what is not a head. */
	assert_error(pc_head_parse_unverified(buf, len - 1, &parsed, err,
					      sizeof(err)),
		     -EBADMSG, err, "truncated");
	free(buf);
}

static void
test_head_keyring_with_two_keys_accepts_heads_from_both(void **state)
{
	struct fixture *fx = *state;
	struct pc_key *keys[] = { fx->key_a, fx->key_b };
	struct pc_head head = sample_head(), parsed;
	uint8_t id[PC_KEYID_LEN];
	char err[512] = "", *buf;
	size_t len;

	assert_int_equal(pc_keyring_count(fx->ring_ab), 2);
	for (int i = 0; i < 2; i++) {
		head.version = 100 + (uint64_t)i;
		buf = sign_head(&head, keys[i], &len);
		assert_ok(pc_head_parse(buf, len, fx->ring_ab, &parsed, err,
					sizeof(err)),
			  err);
		assert_int_equal(parsed.version, head.version);
		pc_key_id(keys[i], id);
		assert_memory_equal(parsed.keyid, id, PC_KEYID_LEN);
		free(buf);
	}
}

/* ---- forged, damaged and cut heads --------------------------------------- */

static void test_head_from_untrusted_key_is_enokey(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	uint8_t id[PC_KEYID_LEN];
	char err[512], want[64], idhex[2 * PC_KEYID_LEN + 1], *buf;
	size_t len;

	buf = sign_head(&head, fx->key_b, &len);
	pc_key_id(fx->key_b, id);
	hex(id, sizeof(id), idhex);
	snprintf(want, sizeof(want), "signed by untrusted key %s", idhex);
	assert_error(parse(fx, buf, len, &parsed, err, sizeof(err)), -ENOKEY,
		     err, want);
	free(buf);
}

static void test_head_with_any_signed_byte_flipped_does_not_verify(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	char err[512], *buf;
	size_t len, signed_len;

	buf = sign_head(&head, fx->key_a, &len);
	signed_len = len - SIG_LINE_LEN;
	/* Every byte of every signed line; the '\n' that ends the last
	 * signed line is left alone, it is what delimits the signature. */
	for (size_t i = 0; i + 1 < signed_len; i++) {
		int rc;

		buf[i] ^= 0x01;
		rc = parse(fx, buf, len, &parsed, err, sizeof(err));
		buf[i] ^= 0x01;
		if (rc != -EKEYREJECTED || !strstr(err, "does not verify")) {
			print_error("byte %zu flipped: rc %d, \"%s\"\n", i, rc,
				    err);
			fail();
		}
	}
	assert_ok(parse(fx, buf, len, &parsed, err, sizeof(err)), err);
	free(buf);
}

static void test_head_with_signature_changed_does_not_verify(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	char err[512], *buf, *sighex;
	size_t len;

	buf = sign_head(&head, fx->key_a, &len);
	sighex = buf + len - 1 - 128;
	for (size_t i = 0; i < 128; i += 7) {
		char saved = sighex[i];

		sighex[i] = saved == '0' ? '1' : '0'; /* still hex */
		assert_error(parse(fx, buf, len, &parsed, err, sizeof(err)),
			     -EKEYREJECTED, err, "signature does not verify");
		sighex[i] = saved;
	}
	free(buf);
}

static void test_head_every_strict_prefix_is_truncated(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	char err[512], *buf;
	size_t len;

	buf = sign_head(&head, fx->key_a, &len);
	for (size_t cut = 0; cut < len; cut++) {
		int rc = parse(fx, buf, cut, &parsed, err, sizeof(err));

		if (rc != -EBADMSG || !strstr(err, "truncated")) {
			print_error("prefix of %zu/%zu bytes: rc %d, \"%s\"\n",
				    cut, len, rc, err);
			fail();
		}
	}
	free(buf);
}

static void test_head_with_malformed_signature_line_is_ebadmsg(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), parsed;
	char err[512], *buf, *line;
	size_t len;

	buf = sign_head(&head, fx->key_a, &len);
	line = buf + len - SIG_LINE_LEN;
	line[10] = 'A'; /* key id digits must be lowercase hex */
	assert_error(parse(fx, buf, len, &parsed, err, sizeof(err)), -EBADMSG,
		     err, "head signature line is malformed");
	free(buf);
	buf = sign_head(&head, fx->key_a, &len);
	/* One hex digit short: drop the last digit, keep the newline. */
	buf[len - 2] = '\n';
	assert_error(parse(fx, buf, len - 1, &parsed, err, sizeof(err)),
		     -EBADMSG, err, "head signature line is malformed");
	free(buf);
}

static void test_head_larger_than_4096_bytes_is_efbig(void **state)
{
	struct fixture *fx = *state;
	struct pc_head parsed;
	char err[512], *big = malloc(PC_HEAD_MAX + 1);

	assert_non_null(big);
	memset(big, '\n', PC_HEAD_MAX + 1);
	assert_error(parse(fx, big, PC_HEAD_MAX + 1, &parsed, err, sizeof(err)),
		     -EFBIG, err, "more than the 4096 allowed");
	assert_error(pc_head_parse_unverified(big, PC_HEAD_MAX + 1, &parsed,
					      err, sizeof(err)),
		     -EFBIG, err, "more than the 4096 allowed");
	/* Exactly the limit is read (and refused for what it is). */
	assert_error(parse(fx, big, PC_HEAD_MAX, &parsed, err, sizeof(err)),
		     -EBADMSG, err, "no signature line");
	free(big);
}

static void test_head_signed_with_format_2_is_eprotonosupport(void **state)
{
	struct fixture *fx = *state;
	struct pc_head parsed;
	char err[512], *buf;
	size_t len;

	buf = signed_variant(fx, "peercache-head 1\n", "peercache-head 2\n", 17,
			     &len);
	assert_error(parse(fx, buf, len, &parsed, err, sizeof(err)),
		     -EPROTONOSUPPORT, err, "head format 2 is not supported");
	assert_error(
		pc_head_parse_unverified(buf, len, &parsed, err, sizeof(err)),
		-EPROTONOSUPPORT, err, "head format 2 is not supported");
	free(buf);
}

/* Correctly signed, but not canonical: refused all the same. */
static void test_head_signed_but_malformed_fields_are_ebadmsg(void **state)
{
	static const struct {
		const char *from, *to, *message;
	} cases[] = {
		{ "peercache-head 1\n", "peercache-heads 1\n",
		  "not a peercache head" },
		{ "peercache-head 1\n", "peercache-head 01\n",
		  "format version is not a number" },
		{ "name demo\n", "name .demo\n", "invalid repository name" },
		{ "name demo\n", "name de/mo\n", "invalid repository name" },
		{ "name demo\n", "name \n", "invalid repository name" },
		{ "name demo\n",
		  "name nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
		  "nnnnnnnnnn\n",
		  "repository name is too long" },
		{ "version 42\n", "version 042\n",
		  "field 'version' is not a valid number" },
		{ "version 42\n", "version -42\n",
		  "field 'version' is not a valid number" },
		{ "version 42\n", "version  42\n",
		  "field 'version' is not a valid number" },
		{ "created 1700000000\n", "", "expected field 'created'" },
		{ "created 1700000000\nexpires 1700604800\n",
		  "expires 1700604800\ncreated 1700000000\n",
		  "expected field 'created'" },
		{ "expires 1700604800\n", "expires 9223372036854775808\n",
		  "field 'expires' is not a valid number" },
		{ "manifest ", "manifest A",
		  "manifest is not a SHA-256 hex id" },
		{ "manifest-size 1234\n", "manifest-size 1073741825\n",
		  "field 'manifest-size' is not a valid number" },
		{ "manifest-size 1234\n", "manifest-size 1234\nextra 1\n",
		  "unexpected data before the signature" },
		{ "manifest-size 1234\n", "manifest-size 1234\n\n",
		  "unexpected data before the signature" },
		{ "expires 1700604800\n", "expires 1700000000\n",
		  "expires (1700000000) before it was created" },
		{ "expires 1700604800\n", "expires 0\n",
		  "before it was created" },
	};
	struct fixture *fx = *state;
	struct pc_head parsed;
	char err[512], *buf;
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf = signed_variant(fx, cases[i].from, cases[i].to,
				     strlen(cases[i].to), &len);
		assert_error(parse(fx, buf, len, &parsed, err, sizeof(err)),
			     -EBADMSG, err, cases[i].message);
		free(buf);
	}
}

/* A NUL inside the signed name must not shorten it to a valid name:
 * "demo\0evil" is not the canonical encoding of "demo". */
static void test_head_signed_name_with_nul_is_ebadmsg(void **state)
{
	struct fixture *fx = *state;
	struct pc_head parsed;
	char err[512], *buf;
	size_t len;

	buf = signed_variant(fx, "name demo\n", "name demo\0evil\n", 15, &len);
	assert_error(parse(fx, buf, len, &parsed, err, sizeof(err)), -EBADMSG,
		     err, "invalid repository name");
	assert_error(
		pc_head_parse_unverified(buf, len, &parsed, err, sizeof(err)),
		-EBADMSG, err, "invalid repository name");
	free(buf);
}

static void test_head_sign_refuses_invalid_fields(void **state)
{
	struct fixture *fx = *state;
	struct pc_head bad_name = sample_head(), bad_time = sample_head(),
		       bad_size = sample_head();
	char *buf = NULL;
	size_t len;

	strcpy(bad_name.name, "no spaces");
	bad_time.created = -1;
	assert_int_equal(pc_head_sign(&bad_time, fx->key_a, &buf, &len),
			 -EINVAL);
	bad_time = sample_head();
	bad_time.expires = bad_time.created;
	bad_size.manifest_size = PC_MANIFEST_MAX + 1;
	assert_int_equal(pc_head_sign(&bad_name, fx->key_a, &buf, &len),
			 -EINVAL);
	assert_int_equal(pc_head_sign(&bad_time, fx->key_a, &buf, &len),
			 -EINVAL);
	assert_int_equal(pc_head_sign(&bad_size, fx->key_a, &buf, &len),
			 -EINVAL);
	assert_null(buf);
}

/* Time is judged against a clock: a head from more than the documented
 * skew ahead is refused, one within it is fine, an expired one too. */
static void test_head_check_time(void **state)
{
	struct pc_head head = sample_head();
	char err[512];

	(void)state;
	assert_ok(pc_head_check_time(&head, head.created, err, sizeof(err)),
		  err);
	assert_ok(pc_head_check_time(&head, head.created - PC_HEAD_CLOCK_SKEW,
				     err, sizeof(err)),
		  err);
	assert_error(pc_head_check_time(&head,
					head.created - PC_HEAD_CLOCK_SKEW - 1,
					err, sizeof(err)),
		     -EBADMSG, err, "ahead of this node's clock");
	assert_error(pc_head_check_time(&head, head.expires, err, sizeof(err)),
		     -EKEYEXPIRED, err, "head expired at 2023-11-21T");
}

/* The digest covers the signed fields: the same head gives the same one
 * (verified or not), any other signed field another. */
static void test_head_digest_covers_the_signed_fields(void **state)
{
	struct fixture *fx = *state;
	struct pc_head head = sample_head(), a, b;
	char err[512], *buf;
	size_t len;

	buf = sign_head(&head, fx->key_a, &len);
	assert_ok(parse(fx, buf, len, &a, err, sizeof(err)), err);
	assert_ok(pc_head_parse_unverified(buf, len, &b, err, sizeof(err)),
		  err);
	assert_true(pc_hash_equal(&a.digest, &b.digest));
	free(buf);
	head.created++;
	buf = sign_head(&head, fx->key_a, &len);
	assert_ok(parse(fx, buf, len, &b, err, sizeof(err)), err);
	assert_false(pc_hash_equal(&a.digest, &b.digest));
	free(buf);
}

static void test_repo_name_valid_cases(void **state)
{
	static const char *const valid[] = {
		"demo",
		"a",
		"A.b_c-9",
		"defs-2024.1",
		"x.",
		"-dash",
		"01234567890123456789012345678901234567890123456789012345678901"
		"23",
	};
	static const char *const invalid[] = {
		"",
		".hidden",
		".",
		"..",
		"a/b",
		"a b",
		"tab\t",
		"caf\xc3\xa9",
		"percent%",
		"01234567890123456789012345678901234567890123456789"
		"012345678901234",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (!pc_repo_name_valid(valid[i])) {
			print_error("'%s' should be valid\n", valid[i]);
			fail();
		}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		if (pc_repo_name_valid(invalid[i])) {
			print_error("'%s' should be invalid\n", invalid[i]);
			fail();
		}
}

/* ---- keys -------------------------------------------------------------- */

static void test_key_generate_writes_private_0600_and_public_pem(void **state)
{
	struct fixture *fx = *state;
	char *pubfile = NULL, *private_pem, *public_pem;
	struct stat st;

	assert_int_equal(stat(fx->key_a_file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	private_pem = pc_test_read_file(fx->key_a_file, NULL);
	assert_message(private_pem, "-----BEGIN PRIVATE KEY-----\n");
	assert_true(asprintf(&pubfile, "%s.pub", fx->key_a_file) > 0);
	public_pem = pc_test_read_file(pubfile, NULL);
	assert_message(public_pem, "-----BEGIN PUBLIC KEY-----\n");
	assert_null(strstr(public_pem, "PRIVATE"));
	free(public_pem);
	free(private_pem);
	free(pubfile);
}

static void test_key_generate_refuses_to_overwrite(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "", *keyfile = pc_test_path(fx->dir, "lost-half.key");
	char *pubfile = NULL;
	const char *text = "not a key\n";
	struct pc_key *after;
	uint8_t before_id[PC_KEYID_LEN], after_id[PC_KEYID_LEN];
	struct stat st;

	/* The private key file exists: it is left alone. */
	pc_key_id(fx->key_a, before_id);
	assert_error(pc_key_generate(fx->key_a_file, err, sizeof(err)), -EEXIST,
		     err, fx->key_a_file);
	after = pc_key_load(fx->key_a_file, err, sizeof(err));
	assert_non_null(after);
	pc_key_id(after, after_id);
	assert_memory_equal(before_id, after_id, PC_KEYID_LEN);
	pc_key_free(after);

	/* Only KEYFILE exists (its .pub was lost): it is not replaced. */
	pc_test_write_file(keyfile, text, strlen(text));
	assert_error(pc_key_generate(keyfile, err, sizeof(err)), -EEXIST, err,
		     "File exists");
	assert_int_equal(stat(keyfile, &st), 0);
	assert_int_equal(st.st_size, strlen(text));
	assert_true(asprintf(&pubfile, "%s.pub", keyfile) > 0);
	assert_int_equal(stat(pubfile, &st), -1);
	remove(keyfile);
	free(pubfile);

	/* Only KEYFILE.pub exists: no private key is written either. */
	assert_true(asprintf(&pubfile, "%s.pub", keyfile) > 0);
	pc_test_write_file(pubfile, text, strlen(text));
	assert_error(pc_key_generate(keyfile, err, sizeof(err)), -EEXIST, err,
		     "already exists; not overwriting a key");
	assert_int_equal(stat(keyfile, &st), -1);
	assert_int_equal(stat(pubfile, &st), 0);
	assert_int_equal(st.st_size, strlen(text));
	remove(pubfile);
	free(pubfile);
	free(keyfile);
}

static void test_key_load_garbage_file_fails_clearly(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "", *path = pc_test_path(fx->dir, "garbage.key");
	char *pubfile = NULL;
	static const char garbage[] = "-----BEGIN PRIVATE KEY-----\n"
				      "bm90IGEga2V5\n"
				      "-----END PRIVATE KEY-----\n";

	pc_test_write_file(path, garbage, strlen(garbage));
	assert_null(pc_key_load(path, err, sizeof(err)));
	assert_message(err, "not a PEM private key");
	assert_message(err, path);
	/* A public key is not a signing key. */
	assert_true(asprintf(&pubfile, "%s.pub", fx->key_a_file) > 0);
	assert_null(pc_key_load(pubfile, err, sizeof(err)));
	assert_message(err, "not a PEM private key");
	free(pubfile);
	free(path);
}

static void test_key_load_missing_file_fails_clearly(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "", *path = pc_test_path(fx->dir, "missing.key");

	assert_null(pc_key_load(path, err, sizeof(err)));
	assert_message(err, "No such file or directory");
	assert_message(err, path);
	free(path);
}

static void test_keys_of_other_types_are_refused(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "", *path = pc_test_path(fx->dir, "p256.key");
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct pc_keyring *ring = pc_keyring_new();
	FILE *f;

	assert_non_null(ec);
	f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL),
			 1);
	fclose(f);
	EVP_PKEY_free(ec);
	assert_null(pc_key_load(path, err, sizeof(err)));
	assert_message(err, "not an Ed25519 key");
	assert_error(pc_keyring_add_file(ring, path, err, sizeof(err)), -EINVAL,
		     err, "not an Ed25519 key");
	assert_int_equal(pc_keyring_count(ring), 0);
	pc_keyring_free(ring);
	free(path);
}

static void test_keyring_refuses_garbage_and_missing_files(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "", *garbage = pc_test_path(fx->dir, "garbage.pub");
	char *missing = pc_test_path(fx->dir, "missing.pub");
	struct pc_keyring *ring = pc_keyring_new();

	pc_test_write_file(garbage, "hello\n", 6);
	assert_error(pc_keyring_add_file(ring, garbage, err, sizeof(err)),
		     -EINVAL, err, "not a PEM key");
	/* The header promises no particular code here, only a failure. */
	assert_true(pc_keyring_add_file(ring, missing, err, sizeof(err)) < 0);
	assert_message(err, "No such file or directory");
	assert_int_equal(pc_keyring_count(ring), 0);
	pc_keyring_free(ring);
	free(missing);
	free(garbage);
}

/* A private key file also works as a trusted key (its public half), and
 * the same key added twice is one key. */
static void test_keyring_takes_private_key_file_once(void **state)
{
	struct fixture *fx = *state;
	struct pc_keyring *ring = pc_keyring_new();
	struct pc_head head = sample_head(), parsed;
	char err[512] = "", *buf;
	size_t len;

	assert_ok(pc_keyring_add_file(ring, fx->key_b_file, err, sizeof(err)),
		  err);
	trust(ring, fx->key_b_file);
	assert_int_equal(pc_keyring_count(ring), 1);
	buf = sign_head(&head, fx->key_b, &len);
	assert_ok(pc_head_parse(buf, len, ring, &parsed, err, sizeof(err)),
		  err);
	free(buf);
	pc_keyring_free(ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_sign_then_parse_gives_same_fields),
		cmocka_unit_test(test_head_fields_at_their_limits_round_trip),
		cmocka_unit_test(test_head_raw_signer_matches_pc_head_sign),
		cmocka_unit_test(
			test_head_parse_unverified_reads_fields_without_keys),
		cmocka_unit_test(
			test_head_keyring_with_two_keys_accepts_heads_from_both),
		cmocka_unit_test(test_head_from_untrusted_key_is_enokey),
		cmocka_unit_test(
			test_head_with_any_signed_byte_flipped_does_not_verify),
		cmocka_unit_test(
			test_head_with_signature_changed_does_not_verify),
		cmocka_unit_test(test_head_every_strict_prefix_is_truncated),
		cmocka_unit_test(
			test_head_with_malformed_signature_line_is_ebadmsg),
		cmocka_unit_test(test_head_larger_than_4096_bytes_is_efbig),
		cmocka_unit_test(
			test_head_signed_with_format_2_is_eprotonosupport),
		cmocka_unit_test(
			test_head_signed_but_malformed_fields_are_ebadmsg),
		cmocka_unit_test(test_head_signed_name_with_nul_is_ebadmsg),
		cmocka_unit_test(test_head_sign_refuses_invalid_fields),
		cmocka_unit_test(test_head_check_time),
		cmocka_unit_test_setup_teardown(
			test_head_digest_covers_the_signed_fields, setup,
			teardown),
		cmocka_unit_test(test_repo_name_valid_cases),
		cmocka_unit_test(
			test_key_generate_writes_private_0600_and_public_pem),
		cmocka_unit_test(test_key_generate_refuses_to_overwrite),
		cmocka_unit_test(test_key_load_garbage_file_fails_clearly),
		cmocka_unit_test(test_key_load_missing_file_fails_clearly),
		cmocka_unit_test(test_keys_of_other_types_are_refused),
		cmocka_unit_test(
			test_keyring_refuses_garbage_and_missing_files),
		cmocka_unit_test(test_keyring_takes_private_key_file_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
