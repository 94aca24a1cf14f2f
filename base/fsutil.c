/*
 * fsutil: the file primitives every module shares — atomic publish, bounded reads, directory
 * creation, the private-file check (see fsutil.h).
 */
#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

int fsutil_sync_parent(const char *path, struct jerr *err)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
        return jerr_set(err, JERR_IO, NULL, "%s: path too long", path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd == -1)
        return jerr_set(err, JERR_IO, NULL, "%s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc == -1)
        return jerr_set(err, JERR_IO, NULL, "fsync %s: %s", dir, strerror(saved));
    return 0;
}

int fsutil_publish(const char *tmp_path, const char *path, struct jerr *err)
{
    if (rename(tmp_path, path) == -1) {
        int saved = errno;
        unlink(tmp_path);
        return jerr_set(err, JERR_IO, NULL, "rename %s: %s", path, strerror(saved));
    }
    return fsutil_sync_parent(path, err);
}

/* A temp file's name: the file's, FSUTIL_TMP_MARK and 12 hex digits (tmp_create). */
#define FSUTIL_TMP_MARK ".tmp-"
#define FSUTIL_TMP_HEX 12

bool fsutil_is_temp_of(const char *name, const char *suffix)
{
    size_t len = strlen(name), mark = strlen(FSUTIL_TMP_MARK), suf = strlen(suffix);
    if (len < suf + mark + FSUTIL_TMP_HEX + 1)
        return false;
    const char *tail = name + len - FSUTIL_TMP_HEX;
    if (strspn(tail, "0123456789abcdef") != FSUTIL_TMP_HEX)
        return false;
    return memcmp(tail - mark, FSUTIL_TMP_MARK, mark) == 0 &&
           memcmp(tail - mark - suf, suffix, suf) == 0;
}

/* Creates a temp file beside `path` (same directory, so that link/rename stay atomic) under a
 * name nobody can predict: O_EXCL never follows a planted link nor reuses a crash's leftover,
 * it tries another name. Returns the descriptor, or -1 with err filled. */
static int tmp_create(const char *path, mode_t mode, char *tmp, size_t size, struct jerr *err)
{
    unsigned char rnd[6];
    for (int attempt = 0;; attempt++) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            return jerr_openssl(err, JERR_CRYPTO, NULL, "%s: cannot pick a temp file name", path);
        int n = snprintf(tmp, size, "%s" FSUTIL_TMP_MARK "%02x%02x%02x%02x%02x%02x", path, rnd[0],
                         rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
        if (n < 0 || (size_t)n >= size)
            return jerr_set(err, JERR_IO, NULL, "%s: path too long", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd != -1)
            return fd;
        if (errno != EEXIST || attempt >= 8)
            return jerr_set(err, JERR_IO, NULL, "%s: %s", tmp, strerror(errno));
    }
}

int fsutil_write_temp(const char *path, const void *data, size_t len, mode_t mode, char *tmp,
                      size_t tmp_size, struct jerr *err)
{
    int fd = tmp_create(path, mode, tmp, tmp_size, err);
    int rc = -1;

    if (fd == -1)
        return -1;
    if (fchmod(fd, mode) == -1) { /* the umask must not loosen or tighten what we asked */
        jerr_set(err, JERR_IO, NULL, "chmod %s: %s", tmp, strerror(errno));
        goto out;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            jerr_set(err, errno == ENOSPC ? JERR_UNAVAILABLE : JERR_IO, NULL, "write %s: %s", tmp,
                     strerror(errno));
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) == -1) {
        jerr_set(err, JERR_IO, NULL, "fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    int closed = close(fd);
    fd = -1;
    if (closed == -1) { /* NFS and some file systems report write errors only here */
        jerr_set(err, JERR_IO, NULL, "close %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd != -1)
        close(fd);
    if (rc == -1)
        unlink(tmp);
    return rc;
}

int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool exclusive,
                        struct jerr *err)
{
    char tmp[PATH_MAX];

    if (exclusive && fsutil_exists(path))
        return jerr_set(err, JERR_CONFLICT, NULL, "%s already exists", path);
    if (fsutil_write_temp(path, data, len, mode, tmp, sizeof(tmp), err) == -1)
        return -1;
    if (!exclusive)
        return fsutil_publish(tmp, path, err);
    /* link(), unlike rename(), fails if the target appeared meanwhile: no silent overwrite,
     * even of a racing writer. */
    int linked = link(tmp, path);
    int saved = errno;
    unlink(tmp); /* published or refused: a leftover name would only be litter */
    if (linked == -1)
        return jerr_set(err, saved == EEXIST ? JERR_CONFLICT : JERR_IO, NULL, "%s: %s", path,
                        strerror(saved));
    return fsutil_sync_parent(path, err);
}

int fsutil_read_file(const char *path, size_t max, unsigned char **data, size_t *len,
                     struct jerr *err)
{
    unsigned char *buf = NULL;
    size_t used = 0;
    int rc = -1;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return jerr_set(err, errno == ENOENT ? JERR_NOT_FOUND : JERR_IO, NULL, "%s: %s", path,
                        strerror(errno));
    buf = malloc(max + 1);
    if (buf == NULL) {
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    used = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        jerr_set(err, JERR_IO, NULL, "read %s: %s", path, strerror(errno));
        goto out;
    }
    if (used > max) {
        jerr_set(err, JERR_TOO_LARGE, NULL, "%s: larger than %zu bytes", path, max);
        goto out;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

int fsutil_mkdirs(const char *path, mode_t mode, struct jerr *err)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
        return jerr_set(err, JERR_IO, NULL, "%s: path too long", path);
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) == -1 && errno != EEXIST)
                return jerr_set(err, JERR_IO, NULL, "mkdir %s: %s", copy, strerror(errno));
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return 0;
}

bool fsutil_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int fsutil_check_private(const char *path, struct jerr *err)
{
    struct stat st;
    if (stat(path, &st) == -1)
        return jerr_set(err, errno == ENOENT ? JERR_NOT_FOUND : JERR_IO, NULL, "%s: %s", path,
                        strerror(errno));
    if ((st.st_mode & 077) != 0)
        return jerr_set(err, JERR_IO, NULL, "%s: mode %04o is too open; must be 0600", path,
                        (unsigned)(st.st_mode & 07777));
    return 0;
}
