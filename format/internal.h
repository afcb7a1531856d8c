/*
 * internal.h - helpers shared by the files of format/ only (fmt_: the
 * internal tier; pc_ is for what pc_format.h exports).
 */
#ifndef PC_FORMAT_INTERNAL_H
#define PC_FORMAT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "pc_format.h"
#include "pc_util.h"

/* Lowercase hex of @n bytes into @out (2n + 1 bytes, NUL-terminated). */
void fmt_hex_encode(const uint8_t *bytes, size_t n, char *out);
/* Exactly 2n lowercase hex digits into @n bytes; 0 or -EINVAL. */
int fmt_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);

/* Raw Ed25519 public key bytes, used for key ids and keyring lookups. */
#define PC_ED25519_LEN 32

/* A read position in a buffer being parsed line by line. */
struct fmt_cursor {
	const char *pos;
	const char *end;
};

/*
 * Next line without its '\n' (which must be there: an unterminated last
 * line means the buffer is truncated).  -EBADMSG at the end or on a
 * truncated line.  *@line is borrowed from the buffer.
 */
int fmt_cursor_line(struct fmt_cursor *cur, const char **line, size_t *len);
/* Canonical decimal: digits only, no sign, no leading zeros, <= @max. */
int fmt_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);
/* Splits "WORD REST" at the first space; 0 or -EBADMSG if no space. */
int fmt_split_word(const char *line, size_t len, size_t *word_len,
		   const char **rest, size_t *rest_len);

/* The trusted key with @id, or NULL.  Borrowed from @ring. */
EVP_PKEY *fmt_keyring_find(const struct pc_keyring *ring,
			   const uint8_t id[PC_KEYID_LEN]);
/* The signing key inside @key.  Borrowed. */
EVP_PKEY *fmt_key_pkey(const struct pc_key *key);

#endif
