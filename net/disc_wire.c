/*
 * disc_wire.c - discovery's wire format (docs/PROTOCOL.md "UDP
 * discovery"): transaction ids, the fleet key's HMAC tag, and parsing a
 * datagram in place, from one receive buffer, so that garbage costs a
 * counter and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "disc_internal.h"

/* ---- small helpers ------------------------------------------------------- */

/* splitmix64: jitter only; txids come from the kernel. */
uint64_t disc_prng_next(struct pc_disc *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint32_t disc_random_txid(struct pc_disc *d)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	return (uint32_t)(disc_prng_next(d) >> 32);
}

/* Index of @p in a result's peer list, added if new; -1 when full. */
int disc_peer_slot(struct pc_disc_peer *peers, size_t *npeers,
		   const struct pc_disc_peer *p)
{
	for (size_t i = 0; i < *npeers; i++) {
		if (same_peer(&peers[i], p)) {
			if (p->http_port)
				peers[i].http_port = p->http_port;
			return (int)i;
		}
	}
	if (*npeers == PC_DISC_MAX_PEERS)
		return -1;
	peers[*npeers] = *p;
	return (int)(*npeers)++;
}

/* ---- the fleet key ------------------------------------------------------- */

int disc_mac_init(struct pc_disc *d, const uint8_t *key, size_t len)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	if (!mac)
		return -ENOMEM;
	d->mac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (!d->mac)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(d->mac, key, len, params))
		return -EINVAL;
	return 0;
}

/* HMAC-SHA256 of @len bytes; the key set at start is reused. */
static bool mac_compute(struct pc_disc *d, const uint8_t *data, size_t len,
			uint8_t out[TAG_LEN])
{
	size_t out_len = 0;

	return EVP_MAC_init(d->mac, NULL, 0, NULL) &&
	       EVP_MAC_update(d->mac, data, len) &&
	       EVP_MAC_final(d->mac, out, &out_len, TAG_LEN) &&
	       out_len == TAG_LEN;
}

int pc_disc_read_key(const char *path, uint8_t *key, size_t cap,
		     size_t *key_len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t got;
	int rc = 0, fd;

	if (cap > PC_DISC_KEY_MAX)
		cap = PC_DISC_KEY_MAX;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "fleet key %s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < PC_DISC_KEY_MIN ||
	    (uint64_t)st.st_size > cap) {
		rc = -EINVAL;
		snprintf(err, errlen,
			 "fleet key %s: must be a file of %d to %zu bytes",
			 path, PC_DISC_KEY_MIN, cap);
		goto out;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		rc = -EPERM;
		snprintf(err, errlen,
			 "fleet key %s: readable or writable by others "
			 "(chmod o-rw)",
			 path);
		goto out;
	}
	got = read(fd, key, (size_t)st.st_size);
	if (got != st.st_size) {
		rc = got < 0 ? -errno : -EIO;
		snprintf(err, errlen, "fleet key %s: short read", path);
		goto out;
	}
	*key_len = (size_t)got;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- packets ------------------------------------------------------------- */

/* Writes a header into d->txbuf; the body follows at HDR_LEN. */
void disc_header_write(struct pc_disc *d, uint8_t *buf, uint8_t type,
		       size_t count, uint32_t txid)
{
	memcpy(buf, magic, sizeof(magic));
	buf[4] = WIRE_VERSION;
	buf[5] = type;
	buf[6] = d->mac ? FLAG_TAGGED : 0;
	buf[7] = (uint8_t)count;
	put32(buf + 8, txid);
	put16(buf + 12, d->opts.http_port);
	put16(buf + 14, 0);
}

/* Appends the tag when keyed; returns the packet's length, 0 on failure. */
size_t disc_seal(struct pc_disc *d, uint8_t *buf, size_t len)
{
	if (!d->mac)
		return len;
	if (!mac_compute(d, buf, len, buf + len))
		return 0;
	return len + TAG_LEN;
}

/* Checks 2..8 of docs/PROTOCOL.md "Validation order". */
enum drop disc_parse_packet(struct pc_disc *d, const uint8_t *buf, size_t len,
			    bool partial, struct packet *pkt)
{
	uint8_t flags, tag[TAG_LEN];
	size_t want, maplen;

	if (len < HDR_LEN)
		return DROP_TRUNCATED;
	if (partial || len > PACKET_MAX)
		return DROP_OVERSIZED;
	if (memcmp(buf, magic, sizeof(magic)) != 0)
		return DROP_MALFORMED;
	if (buf[4] != WIRE_VERSION)
		return DROP_VERSION;
	pkt->type = buf[5];
	flags = buf[6];
	pkt->count = buf[7];
	if (pkt->type < MSG_PROBE || pkt->type > MSG_RELEASE ||
	    (flags & ~FLAG_TAGGED) || get16(buf + 14) != 0 || pkt->count == 0 ||
	    pkt->count > PC_DISC_MAX_HASHES)
		return DROP_MALFORMED;
	want = HDR_LEN + body_len(pkt->type, pkt->count) +
	       (flags & FLAG_TAGGED ? TAG_LEN : 0);
	if (len != want)
		return len < want ? DROP_TRUNCATED : DROP_OVERSIZED;
	if (!(flags & FLAG_TAGGED) != !d->mac)
		return DROP_BAD_TAG;
	if (d->mac && (!mac_compute(d, buf, len - TAG_LEN, tag) ||
		       CRYPTO_memcmp(tag, buf + len - TAG_LEN, TAG_LEN) != 0))
		return DROP_BAD_TAG;
	pkt->txid = get32(buf + 8);
	pkt->http_port = get16(buf + 12);
	pkt->body = buf + HDR_LEN;
	pkt->len = len;
	if (pkt->type != MSG_ANSWER)
		return DROP_NONE;
	maplen = bitmap_len(pkt->count);
	if (pkt->http_port == 0)
		return DROP_MALFORMED;
	for (size_t i = 0; i < maplen; i++)
		if (pkt->body[i] & pkt->body[maplen + i])
			return DROP_MALFORMED; /* have and fetching at once */
	if (pkt->count % 8 &&
	    ((pkt->body[maplen - 1] | pkt->body[2 * maplen - 1]) &
	     (0xff >> (pkt->count % 8))))
		return DROP_MALFORMED; /* bits past the last id */
	return DROP_NONE;
}

void disc_count_drop(struct pc_disc *d, enum drop reason)
{
	uint64_t *counters[] = {
		[DROP_TRUNCATED] = &d->ctr.truncated,
		[DROP_OVERSIZED] = &d->ctr.oversized,
		[DROP_MALFORMED] = &d->ctr.malformed,
		[DROP_VERSION] = &d->ctr.version,
		[DROP_BAD_TAG] = &d->ctr.bad_tag,
	};

	(*counters[reason])++;
}
