/*
 * fsutil: see fsutil.h.
 */
#include "config/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int fsutil_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        bool exclusive, struct jerr *err)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = -1;
    bool tmp_created = false;

    if (exclusive && fsutil_exists(path))
        return jerr_set(err, JERR_CONFLICT, NULL, "%s already exists", path);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return jerr_set(err, JERR_IO, NULL, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd == -1) {
        jerr_set(err, JERR_IO, NULL, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    tmp_created = true;
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
            jerr_set(err, errno == ENOSPC ? JERR_UNAVAILABLE : JERR_IO, NULL, "write %s: %s",
                     tmp, strerror(errno));
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) == -1) {
        jerr_set(err, JERR_IO, NULL, "fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (exclusive) {
        /* link() fails if the target appeared meanwhile: no silent overwrite. */
        if (link(tmp, path) == -1) {
            jerr_set(err, errno == EEXIST ? JERR_CONFLICT : JERR_IO, NULL, "%s: %s", path,
                     strerror(errno));
            goto out;
        }
        unlink(tmp);
        tmp_created = false;
        rc = fsutil_sync_parent(path, err);
        goto out;
    }
    tmp_created = false;
    rc = fsutil_publish(tmp, path, err);
out:
    if (fd != -1)
        close(fd);
    if (tmp_created)
        unlink(tmp);
    return rc;
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
