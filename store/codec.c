/*
 * codec.c - the byte layouts of the LMDB schema (listed in internal.h).
 *
 * Every record is written and read here and nowhere else, so the layout
 * has one definition.  LMDB hands out values at any alignment and the
 * index outlives the process, so fields are copied byte by byte with an
 * explicit byte order (keys big-endian, values little-endian) instead of
 * storing C structs.  Decoders check lengths and report a malformed record
 * as -EIO: the index is ours, so a bad record means disk corruption or a
 * bug, never hostile input.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void store_be64_put(uint8_t out[8], uint64_t value)
{
	uint64_t be = htobe64(value);

	memcpy(out, &be, 8);
}

uint64_t store_be64_get(const void *in)
{
	uint64_t be;

	memcpy(&be, in, 8);
	return be64toh(be);
}

void store_le64_put(uint8_t out[8], uint64_t value)
{
	uint64_t le = htole64(value);

	memcpy(out, &le, 8);
}

uint64_t store_le64_get(const void *in)
{
	uint64_t le;

	memcpy(&le, in, 8);
	return le64toh(le);
}

static void le32_put(uint8_t out[4], uint32_t value)
{
	uint32_t le = htole32(value);

	memcpy(out, &le, 4);
}

static uint32_t le32_get(const void *in)
{
	uint32_t le;

	memcpy(&le, in, 4);
	return le32toh(le);
}

/* A sequential writer/reader over a record whose length was checked. */
struct cursor {
	uint8_t *out;
	const uint8_t *in;
};

static void put_u64(struct cursor *c, uint64_t value)
{
	store_le64_put(c->out, value);
	c->out += 8;
}

static void put_u32(struct cursor *c, uint32_t value)
{
	le32_put(c->out, value);
	c->out += 4;
}

static void put_bytes(struct cursor *c, const void *data, size_t len)
{
	memcpy(c->out, data, len);
	c->out += len;
}

static uint64_t get_u64(struct cursor *c)
{
	uint64_t value = store_le64_get(c->in);

	c->in += 8;
	return value;
}

static uint32_t get_u32(struct cursor *c)
{
	uint32_t value = le32_get(c->in);

	c->in += 4;
	return value;
}

static void get_bytes(struct cursor *c, void *data, size_t len)
{
	memcpy(data, c->in, len);
	c->in += len;
}

/* ---- chunks and lru --------------------------------------------------- */

void store_chunk_rec_encode(const struct store_chunk_rec *rec,
			    uint8_t out[STORE_CHUNK_REC_LEN])
{
	struct cursor c = { .out = out };

	put_u64(&c, rec->size);
	put_u64(&c, (uint64_t)rec->atime);
	put_u32(&c, rec->flags);
}

int store_chunk_rec_decode(const MDB_val *val, struct store_chunk_rec *rec)
{
	struct cursor c = { .in = val->mv_data };

	if (val->mv_size != STORE_CHUNK_REC_LEN)
		return -EIO;
	rec->size = get_u64(&c);
	rec->atime = (int64_t)get_u64(&c);
	rec->flags = get_u32(&c);
	return 0;
}

void store_lru_key(int64_t atime, const struct pc_hash *hash,
		   uint8_t out[STORE_LRU_KEY_LEN])
{
	/* Access times are never negative, so the cast keeps the order. */
	store_be64_put(out, (uint64_t)(atime < 0 ? 0 : atime));
	memcpy(out + 8, hash->bytes, PC_HASH_LEN);
}

/* ---- versions ----------------------------------------------------------- */

void store_version_encode(const struct pc_store_version *v,
			  uint8_t out[STORE_VERSION_REC_LEN])
{
	struct cursor c = { .out = out };
	size_t name_len = strnlen(v->name, PC_REPO_NAME_MAX);
	uint8_t name[PC_REPO_NAME_MAX] = { 0 };

	memcpy(name, v->name, name_len);
	put_u64(&c, v->version);
	*c.out++ = (uint8_t)name_len;
	put_bytes(&c, name, PC_REPO_NAME_MAX);
	put_u64(&c, (uint64_t)v->created);
	put_u64(&c, (uint64_t)v->expires);
	put_u64(&c, (uint64_t)v->accepted);
	put_bytes(&c, v->manifest.bytes, PC_HASH_LEN);
	put_u64(&c, v->manifest_size);
	put_u32(&c, v->root_mode);
	put_u64(&c, (uint64_t)v->root_mtime);
	put_u64(&c, v->files);
	put_u64(&c, v->bytes);
}

int store_version_decode(const MDB_val *val, struct pc_store_version *v)
{
	struct cursor c = { .in = val->mv_data };
	size_t name_len;

	if (val->mv_size != STORE_VERSION_REC_LEN)
		return -EIO;
	memset(v, 0, sizeof(*v));
	v->version = get_u64(&c);
	name_len = *c.in++;
	if (name_len > PC_REPO_NAME_MAX)
		return -EIO;
	get_bytes(&c, v->name, PC_REPO_NAME_MAX);
	v->name[name_len] = '\0';
	v->created = (int64_t)get_u64(&c);
	v->expires = (int64_t)get_u64(&c);
	v->accepted = (int64_t)get_u64(&c);
	get_bytes(&c, v->manifest.bytes, PC_HASH_LEN);
	v->manifest_size = get_u64(&c);
	v->root_mode = get_u32(&c);
	v->root_mtime = (int64_t)get_u64(&c);
	v->files = get_u64(&c);
	v->bytes = get_u64(&c);
	return 0;
}

/* ---- inodes ------------------------------------------------------------- */

size_t store_inode_rec_len(const struct store_inode_rec *rec)
{
	switch (rec->type) {
	case PC_ENTRY_FILE:
		return STORE_INODE_HEAD_LEN +
		       (size_t)rec->nchunks * STORE_CHUNK_ENTRY_LEN;
	case PC_ENTRY_SYMLINK:
		return rec->size > PC_PATH_MAX
			       ? 0
			       : STORE_INODE_HEAD_LEN + (size_t)rec->size;
	case PC_ENTRY_DIR:
		return STORE_INODE_HEAD_LEN;
	}
	return 0;
}

void store_inode_encode(const struct store_inode_rec *rec, uint8_t *out)
{
	struct cursor c = { .out = out };

	*c.out++ = (uint8_t)rec->type;
	put_u32(&c, rec->mode);
	put_u64(&c, (uint64_t)rec->mtime);
	put_u64(&c, rec->size);
	put_u64(&c, rec->parent);
	put_u64(&c, rec->last_version);
	put_bytes(&c, rec->identity.bytes, PC_HASH_LEN);
	put_u32(&c, rec->type == PC_ENTRY_FILE ? rec->nchunks : 0);
	if (rec->type == PC_ENTRY_FILE) {
		for (uint32_t i = 0; i < rec->nchunks; i++) {
			put_bytes(&c, rec->chunks[i].hash.bytes, PC_HASH_LEN);
			put_u32(&c, rec->chunks[i].len);
		}
	} else if (rec->type == PC_ENTRY_SYMLINK) {
		put_bytes(&c, rec->target, (size_t)rec->size);
	}
}

static bool known_type(uint8_t type)
{
	return type == PC_ENTRY_DIR || type == PC_ENTRY_FILE ||
	       type == PC_ENTRY_SYMLINK;
}

int store_inode_decode(const MDB_val *val, struct store_inode_rec *rec)
{
	struct cursor c = { .in = val->mv_data };

	memset(rec, 0, sizeof(*rec));
	if (val->mv_size < STORE_INODE_HEAD_LEN || !known_type(*c.in))
		return -EIO;
	rec->type = (enum pc_entry_type)c.in[0];
	c.in++;
	rec->mode = get_u32(&c);
	rec->mtime = (int64_t)get_u64(&c);
	rec->size = get_u64(&c);
	rec->parent = get_u64(&c);
	rec->last_version = get_u64(&c);
	get_bytes(&c, rec->identity.bytes, PC_HASH_LEN);
	rec->nchunks = get_u32(&c);
	rec->payload = c.in;
	rec->payload_len = val->mv_size - STORE_INODE_HEAD_LEN;
	if (rec->type == PC_ENTRY_FILE &&
	    rec->payload_len != (size_t)rec->nchunks * STORE_CHUNK_ENTRY_LEN)
		return -EIO;
	if (rec->type == PC_ENTRY_SYMLINK && rec->payload_len != rec->size)
		return -EIO;
	if (rec->type == PC_ENTRY_DIR && (rec->payload_len || rec->nchunks))
		return -EIO;
	return 0;
}

int store_inode_to_pc(const struct store_inode_rec *rec, uint64_t ino,
		      struct pc_inode *out)
{
	struct cursor c = { .in = rec->payload };

	memset(out, 0, sizeof(*out));
	out->ino = ino;
	out->parent = rec->parent;
	out->type = rec->type;
	out->mode = rec->mode;
	out->mtime = rec->mtime;
	out->size = rec->size;
	if (rec->type == PC_ENTRY_FILE && rec->nchunks) {
		out->chunks = calloc(rec->nchunks, sizeof(*out->chunks));
		if (!out->chunks)
			return -ENOMEM;
		for (uint32_t i = 0; i < rec->nchunks; i++) {
			get_bytes(&c, out->chunks[i].hash.bytes, PC_HASH_LEN);
			out->chunks[i].len = get_u32(&c);
		}
		out->nchunks = rec->nchunks;
	} else if (rec->type == PC_ENTRY_SYMLINK) {
		out->target = malloc(rec->payload_len + 1);
		if (!out->target)
			return -ENOMEM;
		memcpy(out->target, rec->payload, rec->payload_len);
		out->target[rec->payload_len] = '\0';
	}
	return 0;
}

/* ---- directory entries and attributes ------------------------------------ */

void store_key_pair(uint64_t a, uint64_t b, uint8_t out[16])
{
	store_be64_put(out, a);
	store_be64_put(out + 8, b);
}

size_t store_dirent_key(uint64_t version, uint64_t parent, const char *name,
			size_t name_len, uint8_t out[STORE_DIRENT_KEY_MAX])
{
	store_key_pair(version, parent, out);
	memcpy(out + STORE_DIRENT_PREFIX_LEN, name, name_len);
	return STORE_DIRENT_PREFIX_LEN + name_len;
}

void store_dirent_val(uint64_t ino, enum pc_entry_type type,
		      uint8_t out[STORE_DIRENT_VAL_LEN])
{
	store_be64_put(out, ino);
	out[8] = (uint8_t)type;
}

int store_dirent_val_decode(const MDB_val *val, uint64_t *ino,
			    enum pc_entry_type *type)
{
	const uint8_t *in = val->mv_data;

	if (val->mv_size != STORE_DIRENT_VAL_LEN || !known_type(in[8]))
		return -EIO;
	*ino = store_be64_get(in);
	*type = (enum pc_entry_type)in[8];
	return 0;
}

void store_dirattr_val(uint32_t mode, int64_t mtime,
		       uint8_t out[STORE_DIRATTR_VAL_LEN])
{
	le32_put(out, mode);
	store_le64_put(out + 4, (uint64_t)mtime);
}

int store_dirattr_val_decode(const MDB_val *val, uint32_t *mode, int64_t *mtime)
{
	if (val->mv_size != STORE_DIRATTR_VAL_LEN)
		return -EIO;
	*mode = le32_get(val->mv_data);
	*mtime = (int64_t)store_le64_get((const uint8_t *)val->mv_data + 4);
	return 0;
}
