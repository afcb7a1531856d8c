/*
 * keys.c - Ed25519 signing keys and the keyring of trusted public keys.
 *
 * Keys are ordinary PEM files (PKCS#8 private, SubjectPublicKeyInfo public)
 * so that administrators can inspect them with `openssl pkey`.  A key is
 * named on the wire by its key id: the first 8 bytes of the SHA-256 of the
 * raw 32-byte public key.  A node may trust several keys at once, which is
 * how keys are rotated (docs/FORMAT.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "internal.h"

struct pc_key {
	EVP_PKEY *pkey;
	uint8_t id[PC_KEYID_LEN];
};

struct pc_keyring {
	size_t count;
	struct pc_key *keys; /* public halves only */
};

/* Drain OpenSSL's error queue into one line (the last reason wins). */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long code, last = 0;

	while ((code = ERR_get_error()) != 0)
		last = code;
	if (!last)
		return "no detail from OpenSSL";
	ERR_error_string_n(last, buf, len);
	return buf;
}

static int key_id_of(EVP_PKEY *pkey, uint8_t id[PC_KEYID_LEN])
{
	uint8_t raw[PC_ED25519_LEN];
	size_t rawlen = sizeof(raw);
	struct pc_hash digest;

	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
		return -EINVAL;
	if (!EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) ||
	    rawlen != sizeof(raw))
		return -EINVAL;
	pc_sha256(raw, rawlen, &digest);
	memcpy(id, digest.bytes, PC_KEYID_LEN);
	return 0;
}

static int write_pem(const char *path, mode_t mode, EVP_PKEY *pkey,
		     bool private_part, char *err, size_t errlen)
{
	char reason[256];
	FILE *f;
	int fd, ok;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 && errno == ENOENT) {
		/* The usual first stumble: /etc/peercache not made yet. */
		const char *slash = strrchr(path, '/');
		int dirlen = slash && slash > path ? (int)(slash - path) : 1;
		const char *dir = slash ? path : ".";

		return pc_set_err(-ENOENT, err, errlen,
				  "cannot create %s: the directory %.*s does "
				  "not exist (create it first, e.g. install "
				  "-d -m 0755 %.*s)",
				  path, dirlen, dir, dirlen, dir);
	}
	if (fd < 0)
		return pc_set_err(-errno, err, errlen, "%s: %s", path,
				  strerror(errno));
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return pc_set_err(-ENOMEM, err, errlen, "%s: out of memory",
				  path);
	}
	if (private_part)
		ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_PUBKEY(f, pkey);
	if (fflush(f) != 0 || fsync(fd) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return pc_set_err(-EIO, err, errlen, "%s: cannot write key: %s",
				  path, ssl_reason(reason, sizeof(reason)));
	}
	return 0;
}

int pc_key_generate(const char *keyfile, char *err, size_t errlen)
{
	char reason[256];
	char *pubfile = NULL;
	EVP_PKEY *pkey;
	int rc;

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey)
		return pc_set_err(-EIO, err, errlen,
				  "key generation failed: %s",
				  ssl_reason(reason, sizeof(reason)));
	if (asprintf(&pubfile, "%s.pub", keyfile) < 0) {
		rc = pc_set_err(-ENOMEM, err, errlen, "out of memory");
		pubfile = NULL;
		goto out;
	}
	if (access(pubfile, F_OK) == 0) {
		rc = pc_set_err(-EEXIST, err, errlen,
				"%s already exists; not overwriting a key",
				pubfile);
		goto out;
	}
	rc = write_pem(keyfile, 0600, pkey, true, err, errlen);
	if (rc < 0)
		goto out;
	rc = write_pem(pubfile, 0644, pkey, false, err, errlen);
	if (rc < 0)
		unlink(keyfile);
out:
	free(pubfile);
	EVP_PKEY_free(pkey);
	return rc;
}

struct pc_key *pc_key_load(const char *keyfile, char *err, size_t errlen)
{
	char reason[256];
	struct pc_key *key;
	EVP_PKEY *pkey;
	FILE *f;

	f = fopen(keyfile, "re");
	if (!f) {
		pc_set_err(-errno, err, errlen, "%s: %s", keyfile,
			   strerror(errno));
		return NULL;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey) {
		pc_set_err(-EINVAL, err, errlen,
			   "%s: not a PEM private key: %s", keyfile,
			   ssl_reason(reason, sizeof(reason)));
		return NULL;
	}
	key = calloc(1, sizeof(*key));
	if (!key) {
		EVP_PKEY_free(pkey);
		pc_set_err(-ENOMEM, err, errlen, "out of memory");
		return NULL;
	}
	key->pkey = pkey;
	if (key_id_of(pkey, key->id) < 0) {
		pc_set_err(-EINVAL, err, errlen, "%s: not an Ed25519 key",
			   keyfile);
		pc_key_free(key);
		return NULL;
	}
	return key;
}

void pc_key_free(struct pc_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

void pc_key_id(const struct pc_key *key, uint8_t id[PC_KEYID_LEN])
{
	memcpy(id, key->id, PC_KEYID_LEN);
}

struct pc_keyring *pc_keyring_new(void)
{
	return calloc(1, sizeof(struct pc_keyring));
}

/* Reads a public key, or the public half of a private key file. */
static EVP_PKEY *read_public(const char *path, char *err, size_t errlen)
{
	char reason[256];
	EVP_PKEY *pkey;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		pc_set_err(-errno, err, errlen, "%s: %s", path,
			   strerror(errno));
		return NULL;
	}
	pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!pkey) {
		ERR_clear_error();
		rewind(f);
		pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!pkey)
		pc_set_err(-EINVAL, err, errlen, "%s: not a PEM key: %s", path,
			   ssl_reason(reason, sizeof(reason)));
	return pkey;
}

int pc_keyring_add_file(struct pc_keyring *ring, const char *path, char *err,
			size_t errlen)
{
	uint8_t raw[PC_ED25519_LEN];
	size_t rawlen = sizeof(raw);
	struct pc_key *grown;
	EVP_PKEY *pkey, *pub;
	uint8_t id[PC_KEYID_LEN];

	pkey = read_public(path, err, errlen);
	if (!pkey)
		return -EINVAL;
	if (key_id_of(pkey, id) < 0 ||
	    !EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen)) {
		EVP_PKEY_free(pkey);
		return pc_set_err(-EINVAL, err, errlen,
				  "%s: not an Ed25519 key", path);
	}
	/* Keep only the public half, even when handed a private key file. */
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen);
	EVP_PKEY_free(pkey);
	if (!pub)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	for (size_t i = 0; i < ring->count; i++) {
		if (memcmp(ring->keys[i].id, id, PC_KEYID_LEN) == 0) {
			EVP_PKEY_free(pub); /* the same key twice is harmless */
			return 0;
		}
	}
	grown = realloc(ring->keys, (ring->count + 1) * sizeof(*grown));
	if (!grown) {
		EVP_PKEY_free(pub);
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	}
	ring->keys = grown;
	ring->keys[ring->count].pkey = pub;
	memcpy(ring->keys[ring->count].id, id, PC_KEYID_LEN);
	ring->count++;
	return 0;
}

size_t pc_keyring_count(const struct pc_keyring *ring)
{
	return ring->count;
}

void pc_keyring_free(struct pc_keyring *ring)
{
	if (!ring)
		return;
	for (size_t i = 0; i < ring->count; i++)
		EVP_PKEY_free(ring->keys[i].pkey);
	free(ring->keys);
	free(ring);
}

EVP_PKEY *fmt_keyring_find(const struct pc_keyring *ring,
			   const uint8_t id[PC_KEYID_LEN])
{
	for (size_t i = 0; i < ring->count; i++)
		if (memcmp(ring->keys[i].id, id, PC_KEYID_LEN) == 0)
			return ring->keys[i].pkey;
	return NULL;
}

EVP_PKEY *fmt_key_pkey(const struct pc_key *key)
{
	return key->pkey;
}
