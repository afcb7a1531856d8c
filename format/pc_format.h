/*
 * pc_format.h - the published repository format: content hashes, the
 * FastCDC chunker, the manifest and the signed head.
 *
 * This is the contract between the publisher (tools/), the node (store/,
 * net/, fs/) and docs/FORMAT.md, which describes the same bytes in prose.
 * Everything here is pure computation over memory buffers: no file or
 * network I/O except the key loading helpers, so parsers can be fuzzed.
 *
 * Error convention: actions return 0 or a negative errno; parsers also fill
 * a caller-supplied message buffer (may be NULL) with a one-line reason.
 */
#ifndef PC_FORMAT_H
#define PC_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_util.h" /* PC_REPO_NAME_MAX, the name rule */

/* ---- content hashes --------------------------------------------------- */

#define PC_HASH_LEN 32
#define PC_HASH_HEX_LEN 64

struct pc_hash {
	uint8_t bytes[PC_HASH_LEN];
};

/* Lowercase hex, NUL-terminated; @out must hold PC_HASH_HEX_LEN + 1. */
void pc_hash_to_hex(const struct pc_hash *hash, char *out);
/* Exactly 64 lowercase hex digits, nothing else. 0 or -EINVAL. */
int pc_hash_from_hex(const char *hex, size_t len, struct pc_hash *out);
bool pc_hash_equal(const struct pc_hash *a, const struct pc_hash *b);
/* SHA-256 of a buffer (OpenSSL EVP). */
void pc_sha256(const void *data, size_t len, struct pc_hash *out);

/* Incremental SHA-256 for data that arrives in pieces (downloads). */
struct pc_sha256_ctx;
struct pc_sha256_ctx *pc_sha256_new(void); /* NULL on allocation failure */
void pc_sha256_update(struct pc_sha256_ctx *ctx, const void *data, size_t len);
/* Finishes and resets @ctx so it can hash the next object. */
void pc_sha256_final(struct pc_sha256_ctx *ctx, struct pc_hash *out);
void pc_sha256_free(struct pc_sha256_ctx *ctx);

/* ---- chunker (FastCDC, normalized chunking level 2) ------------------- */

#define PC_CHUNK_MIN (256u * 1024)
#define PC_CHUNK_AVG (1024u * 1024)
#define PC_CHUNK_MAX (4u * 1024 * 1024)

/*
 * Length of the next chunk at the start of @buf.  The caller passes at
 * least PC_CHUNK_MAX bytes unless the data ends within @len (then @len is
 * all that is left).  Result is in [1, min(len, PC_CHUNK_MAX)], and only a
 * final chunk can be shorter than PC_CHUNK_MIN.  Returns 0 only for len 0.
 */
size_t pc_cdc_cut(const uint8_t *buf, size_t len);

/* ---- manifest ---------------------------------------------------------- */

enum pc_entry_type {
	PC_ENTRY_DIR = 'D',
	PC_ENTRY_FILE = 'F',
	PC_ENTRY_SYMLINK = 'L',
};

/* Parser limits (also in docs/FORMAT.md). */
#define PC_PATH_MAX 4095	      /* bytes of a path or symlink target */
#define PC_NAME_MAX 255		      /* bytes of one path component */
#define PC_MANIFEST_MAX (1ull << 30)  /* bytes of a whole manifest */
#define PC_FILE_SIZE_MAX (1ull << 44) /* 16 TiB */
#define PC_MODE_MASK 0777u /* no setuid/setgid/sticky bits are published */

struct pc_chunk_ref {
	struct pc_hash hash;
	uint32_t len; /* 1..PC_CHUNK_MAX */
};

struct pc_entry {
	enum pc_entry_type type;
	uint32_t mode; /* permission bits only, <= PC_MODE_MASK */
	int64_t mtime; /* seconds since the epoch */
	uint64_t size; /* file: content bytes; symlink: target length; dir: 0 */
	char *path;    /* relative, '/'-separated, no "." or ".." components */
	char *target;  /* symlink target, else NULL */
	uint32_t nchunks;
	struct pc_chunk_ref *chunks; /* file: ordered, lengths sum to size */
};

struct pc_manifest {
	uint32_t root_mode;
	int64_t root_mtime;
	size_t nentries;
	struct pc_entry *entries; /* sorted by path (bytewise), unique */
	size_t capacity;	  /* allocated entries (builder's business) */
};

/*
 * Parse and validate a manifest.  On success *@out is a new manifest that
 * the caller owns (free with pc_manifest_free()); it copies what it needs
 * from @buf.  Returns -EBADMSG (malformed), -EPROTONOSUPPORT (unknown
 * format version) or -ENOMEM, with a reason in @err.
 */
int pc_manifest_parse(const void *buf, size_t len, struct pc_manifest **out,
		      char *err, size_t errlen);

/*
 * The same parser, one entry at a time, for consumers that must not hold
 * the whole tree (installing a version of a million entries).  @buf stays
 * borrowed until pc_manifest_stream_free().  Open checks the header:
 * -EBADMSG, -EPROTONOSUPPORT, -EFBIG, -ENOMEM with @err.
 */
struct pc_manifest_stream;
int pc_manifest_stream_open(const void *buf, size_t len,
			    struct pc_manifest_stream **out, char *err,
			    size_t errlen);
uint32_t pc_manifest_stream_root_mode(const struct pc_manifest_stream *s);
int64_t pc_manifest_stream_root_mtime(const struct pc_manifest_stream *s);
uint64_t pc_manifest_stream_count(const struct pc_manifest_stream *s);
/*
 * 1 with the next entry in *@e (borrowed until the next call), 0 after
 * the last one (nothing may follow it), < 0 with @err.  Each entry is
 * checked as pc_manifest_parse() checks it, and for its order; that its
 * parent is a directory listed before it is the caller's to check (the
 * stream keeps no earlier entry).
 */
int pc_manifest_stream_next(struct pc_manifest_stream *s,
			    const struct pc_entry **e, char *err,
			    size_t errlen);
/* Bytes of the buffer consumed so far (to let go of what lies behind). */
size_t pc_manifest_stream_offset(const struct pc_manifest_stream *s);
void pc_manifest_stream_free(struct pc_manifest_stream *s);

/*
 * Builder used by the publisher.  Entries may be added in any order;
 * pc_manifest_serialize() sorts them and writes the canonical bytes.
 */
struct pc_manifest *pc_manifest_new(uint32_t root_mode, int64_t root_mtime);
/* Copies path/target/chunks.  0, -EINVAL (bad path or field) or -ENOMEM. */
int pc_manifest_add(struct pc_manifest *m, const struct pc_entry *entry);
/*
 * Canonical bytes of @m (sorts entries in place).  Caller owns *@buf and
 * frees it with free().  -EEXIST if two entries share a path, -ENOENT if an
 * entry's parent directory is missing, -ENOMEM.
 */
int pc_manifest_serialize(struct pc_manifest *m, char **buf, size_t *len);
void pc_manifest_free(struct pc_manifest *m);

/*
 * Index of the entry whose path is @path[0..@len) among the first @n of
 * @entries (sorted as in a manifest), or -1.  Binary search.
 */
long pc_manifest_find(const struct pc_entry *entries, size_t n,
		      const char *path, size_t len);

/* Check one relative path (as stored in a manifest).  0 or -EINVAL. */
int pc_path_check(const char *path, size_t len, char *err, size_t errlen);

/* ---- keys (Ed25519, PEM files) ---------------------------------------- */

#define PC_KEYID_LEN 8 /* first bytes of SHA-256 of the raw public key */

struct pc_key;	   /* a private key that can sign */
struct pc_keyring; /* trusted public keys */

/* Writes KEYFILE (PKCS#8 PEM, mode 0600, refuses to overwrite) and
 * KEYFILE.pub (SubjectPublicKeyInfo PEM). */
int pc_key_generate(const char *keyfile, char *err, size_t errlen);
/* Caller owns the result; free with pc_key_free().  NULL with @err set. */
struct pc_key *pc_key_load(const char *keyfile, char *err, size_t errlen);
void pc_key_free(struct pc_key *key);
void pc_key_id(const struct pc_key *key, uint8_t id[PC_KEYID_LEN]);

struct pc_keyring *pc_keyring_new(void);
/* Adds the public key in a PEM file (a .pub or a private key file). */
int pc_keyring_add_file(struct pc_keyring *ring, const char *path, char *err,
			size_t errlen);
size_t pc_keyring_count(const struct pc_keyring *ring);
void pc_keyring_free(struct pc_keyring *ring);

/* ---- head -------------------------------------------------------------- */

#define PC_HEAD_FORMAT 1
#define PC_HEAD_MAX 4096 /* bytes; a larger head is refused unread */

struct pc_head {
	uint32_t format;
	char name[PC_REPO_NAME_MAX + 1];
	uint64_t version;
	int64_t created;
	int64_t expires;
	struct pc_hash manifest;
	uint64_t manifest_size;
	uint8_t keyid[PC_KEYID_LEN];
	/* SHA-256 of the signed fields (every byte before the signature
	 * line), set by the parsers: two heads of one version with other
	 * digests are an equivocation. */
	struct pc_hash digest;
};

/* How far a head's "created" may lie ahead of this node's clock (seconds):
 * clocks of a publisher and a fleet drift; a head from further ahead is
 * refused (docs/FORMAT.md). */
#define PC_HEAD_CLOCK_SKEW 600

/* Name rules: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
bool pc_repo_name_valid(const char *name);

/*
 * Verify the signature with @ring first, then parse the signed fields.
 * -ENOKEY: signed by a key not in @ring; -EKEYREJECTED: signature does not
 * verify; -EBADMSG: malformed or truncated, or it expires before it was
 * created; -EPROTONOSUPPORT: unknown format; -EFBIG: larger than
 * PC_HEAD_MAX.  Expiry against a clock is pc_head_check_time().
 */
int pc_head_parse(const void *buf, size_t len, const struct pc_keyring *ring,
		  struct pc_head *out, char *err, size_t errlen);
/* Parse without checking the signature: only for a publisher reading its
 * own previous head (to continue the version sequence). */
int pc_head_parse_unverified(const void *buf, size_t len, struct pc_head *out,
			     char *err, size_t errlen);
/* @head makes sense at @now (Unix seconds): 0; -EBADMSG if it was created
 * more than PC_HEAD_CLOCK_SKEW after @now; -EKEYEXPIRED if it expired at
 * or before @now.  The reason in @err. */
int pc_head_check_time(const struct pc_head *head, int64_t now, char *err,
		       size_t errlen);
/* What a node knows when it judges a head (pc_head_accept). */
struct pc_head_rules {
	const char *repository; /* configured; NULL or "": @current's */
	const char *current;	/* repository of the version held, or NULL */
	uint64_t highest;	/* highest version ever accepted; 0: none */
	int64_t now;		/* Unix seconds */
};

/*
 * Whether a node accepts the head in @buf: 1 for a new version to
 * install, 0 for the version @rules->highest again (the caller may compare
 * it with the head it accepted), < 0 refused with the reason in @why:
 * pc_head_parse()'s errors, -EPERM (another repository than the
 * configured one, or when none is configured, than the one held),
 * -ESTALE (a rollback below @rules->highest), pc_head_check_time()'s.
 * @head is filled from the signed fields whenever the signature verified.
 */
int pc_head_accept(const void *buf, size_t len, const struct pc_keyring *ring,
		   const struct pc_head_rules *rules, struct pc_head *head,
		   char *why, size_t whylen);
/* Canonical signed bytes for @head (keyid is taken from @key; -EINVAL if
 * it expires before it is created).  Caller
 * owns *@buf (free()). */
int pc_head_sign(const struct pc_head *head, const struct pc_key *key,
		 char **buf, size_t *len);

#endif /* PC_FORMAT_H */
