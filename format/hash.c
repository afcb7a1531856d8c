/*
 * hash.c - SHA-256 content ids and their hex form.
 *
 * Everything goes through OpenSSL's EVP interface so that the CPU's SHA
 * extensions are used when present; hashing is the floor of both publishing
 * and fetching, so it must be the fastest implementation available.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

struct pc_sha256_ctx {
	EVP_MD_CTX *md;
};

static const char hex_digits[] = "0123456789abcdef";

void fmt_hex_encode(const uint8_t *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[bytes[i] >> 4];
		out[2 * i + 1] = hex_digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void pc_hash_to_hex(const struct pc_hash *hash, char *out)
{
	fmt_hex_encode(hash->bytes, PC_HASH_LEN, out);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* uppercase is not canonical and is refused */
}

int fmt_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
	if (hexlen != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int pc_hash_from_hex(const char *hex, size_t len, struct pc_hash *out)
{
	return fmt_hex_decode(hex, len, out->bytes, PC_HASH_LEN);
}

bool pc_hash_equal(const struct pc_hash *a, const struct pc_hash *b)
{
	return memcmp(a->bytes, b->bytes, PC_HASH_LEN) == 0;
}

void pc_sha256(const void *data, size_t len, struct pc_hash *out)
{
	unsigned int outlen = PC_HASH_LEN;

	/* EVP_Digest only fails on allocation failure inside OpenSSL; a
	 * zeroed hash then simply never matches any content. */
	if (!EVP_Digest(data, len, out->bytes, &outlen, EVP_sha256(), NULL))
		memset(out->bytes, 0, PC_HASH_LEN);
}

struct pc_sha256_ctx *pc_sha256_new(void)
{
	struct pc_sha256_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->md = EVP_MD_CTX_new();
	if (!ctx->md || !EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx->md);
		free(ctx);
		return NULL;
	}
	return ctx;
}

void pc_sha256_update(struct pc_sha256_ctx *ctx, const void *data, size_t len)
{
	EVP_DigestUpdate(ctx->md, data, len);
}

void pc_sha256_final(struct pc_sha256_ctx *ctx, struct pc_hash *out)
{
	unsigned int outlen = PC_HASH_LEN;

	if (!EVP_DigestFinal_ex(ctx->md, out->bytes, &outlen))
		memset(out->bytes, 0, PC_HASH_LEN);
	EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL);
}

void pc_sha256_free(struct pc_sha256_ctx *ctx)
{
	if (!ctx)
		return;
	EVP_MD_CTX_free(ctx->md);
	free(ctx);
}
