/*
 * crlcache: see crlcache.h. Loading is all I/O and hashing, so it runs on workers; the loops
 * only take references and add the mapped segment to their answers. The header times are read
 * by the one CRL reader, crl_read_times (ca/crl_read.h).
 */
#include "responder/crl/crlcache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/evp.h>

#include "ca/crl_read.h"
#include "responder/net/http.h"

struct crlcache_snapshot {
    atomic_int refs;
    struct evbuffer_file_segment *segment; /* owns the file descriptor */
    size_t size;
    dev_t dev;
    ino_t ino;
    struct timespec mtim;
    time_t this_update, next_update;
    char etag[HTTP_ETAG_MAX];
};

struct crlcache_slot {
    pthread_mutex_t lock;
    struct crlcache_snapshot *snap;
};

struct crlcache {
    size_t count;
    struct crlcache_slot *slots;
};

/* ---- snapshots ---- */

struct crlcache_snapshot *crlcache_load(const char *path, struct jerr *err)
{
    struct crlcache_snapshot *snap = NULL;
    unsigned char *buf = NULL, *head = NULL, digest[32];
    size_t head_len = 0;
    unsigned int digest_len = 0;
    struct stat st;
    EVP_MD_CTX *md = NULL;
    struct evbuffer *scratch = NULL;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno == ENOENT)
            jerr_set(err, JERR_NOT_FOUND, "crl", "%s: not published", path);
        else
            jerr_set(err, JERR_IO, "crl", "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        jerr_set(err, JERR_IO, "crl", "%s: not a regular non-empty file", path);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    buf = malloc(CRLCACHE_HEAD_BYTES);
    head = malloc(CRLCACHE_HEAD_BYTES);
    md = EVP_MD_CTX_new();
    if (buf == NULL || head == NULL || md == NULL ||
        EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        jerr_openssl(err, JERR_INTERNAL, "crl", "out of memory");
        goto fail;
    }
    /* One pass: hash everything, keep the beginning for the header. */
    for (size_t off = 0; off < size;) {
        size_t want = size - off < CRLCACHE_HEAD_BYTES ? size - off : CRLCACHE_HEAD_BYTES;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0) {
            jerr_set(err, JERR_IO, "crl", "%s: read: %s", path,
                     n == 0 ? "file shrank" : strerror(errno));
            goto fail;
        }
        if (head_len < CRLCACHE_HEAD_BYTES) {
            size_t take = (size_t)n < CRLCACHE_HEAD_BYTES - head_len
                              ? (size_t)n
                              : CRLCACHE_HEAD_BYTES - head_len;
            memcpy(head + head_len, buf, take);
            head_len += take;
        }
        if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
            jerr_openssl(err, JERR_CRYPTO, "crl", "SHA-256");
            goto fail;
        }
        off += (size_t)n;
    }
    if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1 || digest_len != sizeof(digest)) {
        jerr_openssl(err, JERR_CRYPTO, "crl", "SHA-256");
        goto fail;
    }

    snap = calloc(1, sizeof(*snap));
    if (snap == NULL) {
        jerr_set(err, JERR_INTERNAL, "crl", "out of memory");
        goto fail;
    }
    if (crl_read_times(head, head_len, size, &snap->this_update, &snap->next_update, err) == -1)
        goto fail;
    http_etag_sha256(digest, snap->etag);
    snap->size = size;
    snap->dev = st.st_dev;
    snap->ino = st.st_ino;
    snap->mtim = st.st_mtim;
    atomic_init(&snap->refs, 1);
    snap->segment = evbuffer_file_segment_new(fd, 0, (ev_off_t)size, EVBUF_FS_CLOSE_ON_FREE);
    if (snap->segment == NULL) {
        jerr_set(err, JERR_IO, "crl", "%s: cannot map", path);
        goto fail;
    }
    fd = -1; /* the segment's now */
    /* Map it here, on the worker, rather than on the first answer's loop. */
    scratch = evbuffer_new();
    if (scratch == NULL ||
        evbuffer_add_file_segment(scratch, snap->segment, 0, (ev_off_t)size) != 0) {
        jerr_set(err, JERR_IO, "crl", "%s: cannot map", path);
        goto fail;
    }
    evbuffer_free(scratch);
    free(buf);
    free(head);
    EVP_MD_CTX_free(md);
    return snap;
fail:
    if (scratch != NULL)
        evbuffer_free(scratch);
    if (snap != NULL && snap->segment != NULL)
        evbuffer_file_segment_free(snap->segment);
    free(snap);
    if (fd != -1)
        close(fd);
    free(buf);
    free(head);
    EVP_MD_CTX_free(md);
    return NULL;
}

void crlcache_snapshot_ref(struct crlcache_snapshot *snap)
{
    atomic_fetch_add(&snap->refs, 1);
}

void crlcache_snapshot_unref(struct crlcache_snapshot *snap)
{
    if (snap == NULL || atomic_fetch_sub(&snap->refs, 1) != 1)
        return;
    evbuffer_file_segment_free(snap->segment); /* answers still sending keep it alive */
    free(snap);
}

const char *crlcache_etag(const struct crlcache_snapshot *snap)
{
    return snap->etag;
}

time_t crlcache_this_update(const struct crlcache_snapshot *snap)
{
    return snap->this_update;
}

time_t crlcache_next_update(const struct crlcache_snapshot *snap)
{
    return snap->next_update;
}

time_t crlcache_mtime(const struct crlcache_snapshot *snap)
{
    return snap->mtim.tv_sec;
}

size_t crlcache_size(const struct crlcache_snapshot *snap)
{
    return snap->size;
}

bool crlcache_is_current(const struct crlcache_snapshot *snap, const struct stat *st)
{
    return st->st_dev == snap->dev && st->st_ino == snap->ino &&
           (size_t)st->st_size == snap->size && st->st_mtim.tv_sec == snap->mtim.tv_sec &&
           st->st_mtim.tv_nsec == snap->mtim.tv_nsec;
}

int crlcache_add_body(const struct crlcache_snapshot *snap, struct evbuffer *out, struct jerr *err)
{
    if (evbuffer_add_file_segment(out, snap->segment, 0, (ev_off_t)snap->size) != 0)
        return jerr_set(err, JERR_INTERNAL, "crl", "cannot add the CRL to the answer");
    return 0;
}

/* ---- the shared table ---- */

struct crlcache *crlcache_new(size_t slots, struct jerr *err)
{
    struct crlcache *cache = calloc(1, sizeof(*cache));
    if (cache == NULL || (cache->slots = calloc(slots, sizeof(*cache->slots))) == NULL) {
        free(cache);
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    cache->count = slots;
    for (size_t i = 0; i < slots; i++)
        pthread_mutex_init(&cache->slots[i].lock, NULL);
    return cache;
}

void crlcache_free(struct crlcache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < cache->count; i++) {
        crlcache_snapshot_unref(cache->slots[i].snap);
        pthread_mutex_destroy(&cache->slots[i].lock);
    }
    free(cache->slots);
    free(cache);
}

struct crlcache_snapshot *crlcache_get(struct crlcache *cache, size_t slot, const char *path,
                                       struct jerr *err)
{
    if (slot >= cache->count) {
        jerr_set(err, JERR_INTERNAL, "crl", "CRL slot %zu out of range", slot);
        return NULL;
    }
    struct crlcache_slot *s = &cache->slots[slot];
    struct crlcache_snapshot *snap = NULL;
    struct stat st;

    /* The lock is held while loading: loops asking for the same file at once wait for one
     * load instead of each doing it. */
    pthread_mutex_lock(&s->lock);
    if (stat(path, &st) == -1) {
        if (errno == ENOENT) {
            crlcache_snapshot_unref(s->snap);
            s->snap = NULL;
            jerr_set(err, JERR_NOT_FOUND, "crl", "CRL not published");
        } else {
            jerr_set(err, JERR_IO, "crl", "%s: %s", path, strerror(errno));
        }
        goto out;
    }
    if (s->snap == NULL || !crlcache_is_current(s->snap, &st)) {
        struct crlcache_snapshot *fresh = crlcache_load(path, err);
        if (fresh == NULL)
            goto out;
        crlcache_snapshot_unref(s->snap);
        s->snap = fresh;
    }
    snap = s->snap;
    crlcache_snapshot_ref(snap);
out:
    pthread_mutex_unlock(&s->lock);
    return snap;
}

int crlcache_file_times(const char *path, time_t *this_update, time_t *next_update,
                        struct jerr *err)
{
    unsigned char head[CRLCACHE_HEAD_BYTES];
    struct stat st;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return jerr_set(err, errno == ENOENT ? JERR_NOT_FOUND : JERR_IO, NULL, "%s: %s", path,
                        strerror(errno));
    if (fstat(fd, &st) == -1 || st.st_size <= 0) {
        jerr_set(err, JERR_INVALID, NULL, "%s: empty", path);
        goto out;
    }
    size_t want = (size_t)st.st_size < sizeof(head) ? (size_t)st.st_size : sizeof(head);
    if (pread(fd, head, want, 0) != (ssize_t)want) {
        jerr_set(err, JERR_IO, NULL, "%s: short read", path);
        goto out;
    }
    rc = crl_read_times(head, want, (size_t)st.st_size, this_update, next_update, err);
out:
    close(fd);
    return rc;
}
