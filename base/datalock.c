/*
 * datalock: see datalock.h. Plain flock(2) on two files of the data directory; the owner
 * lock's file also says who holds it, for the refusal and for `jpkid crl`.
 */
#include "base/datalock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define DATALOCK_OWNER_FILE "jpkid.lock"
#define DATALOCK_PUBLICATION_FILE "crl.lock"
/* How long a refusal waits for a holder that has the lock but has not written its PID yet
 * (it writes right after taking it). */
#define DATALOCK_PID_WAIT_MS 200
#define DATALOCK_COMMAND_MAX 32

struct datalock {
    int fd;
    bool owner_written; /* the owner file holds our PID: emptied at release */
};

static int lock_path(const char *data_dir, const char *name, char *buf, size_t size,
                     struct jerr *err)
{
    int n = snprintf(buf, size, "%s/%s", data_dir, name);
    if (n < 0 || (size_t)n >= size)
        return jerr_set(err, JERR_CONFIG, "data_dir", "data_dir path too long");
    return 0;
}

static int flock_retry(int fd, int op)
{
    int rc;
    while ((rc = flock(fd, op)) == -1 && errno == EINTR)
        ;
    return rc;
}

/* Reads "<pid> <command>" from an owner file; *pid 0 and command "" when it is not (yet)
 * there. */
static void read_owner(int fd, pid_t *pid, char *command, size_t size)
{
    char text[64], cmd[DATALOCK_COMMAND_MAX] = "";
    long value = 0;
    *pid = 0;
    if (size > 0)
        command[0] = '\0';
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    if (n <= 0)
        return;
    text[n] = '\0';
    if (sscanf(text, "%ld %31s", &value, cmd) < 1 || value <= 0 || value > INT_MAX)
        return;
    *pid = (pid_t)value;
    if (size > 0)
        snprintf(command, size, "%s", cmd);
}

/* read_owner, waiting a little for a holder that has not written its PID yet. */
static void read_owner_wait(int fd, pid_t *pid, char *command, size_t size)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int waited = 0;; waited += 10) {
        read_owner(fd, pid, command, size);
        if (*pid != 0 || waited >= DATALOCK_PID_WAIT_MS)
            return;
        nanosleep(&pause, NULL);
    }
}

struct datalock *datalock_own(const char *data_dir, const char *command, struct jerr *err)
{
    char path[PATH_MAX], text[64], holder[DATALOCK_COMMAND_MAX];
    pid_t pid;
    bool writable = true;
    struct datalock *lock = NULL;

    if (lock_path(data_dir, DATALOCK_OWNER_FILE, path, sizeof(path), err) == -1)
        return NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int open_errno = errno;
    if (fd == -1 && (errno == EROFS || errno == EACCES)) {
        /* flock needs no write access: a read-only data directory is still owned by one
         * process (which then says why it cannot write, e.g. store_open). */
        writable = false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd == -1) {
        if (errno == ENOENT && !writable)
            jerr_set(err, JERR_IO, "data_dir", "cannot create the lock file %s: %s", path,
                     strerror(open_errno));
        else if (errno == ENOENT)
            jerr_set(err, JERR_NOT_FOUND, "data_dir",
                     "data directory %s does not exist (jpkid init creates an instance)", data_dir);
        else
            jerr_set(err, JERR_IO, "data_dir", "cannot open the lock file %s: %s", path,
                     strerror(errno));
        return NULL;
    }
    if (flock_retry(fd, LOCK_EX | LOCK_NB) == -1) {
        if (errno == EWOULDBLOCK) {
            read_owner_wait(fd, &pid, holder, sizeof(holder));
            if (pid != 0)
                jerr_set(err, JERR_CONFLICT, "data_dir",
                         "data directory %s is in use by jpkid %s (PID %ld, see %s): one "
                         "process owns a data directory; stop it first",
                         data_dir, holder[0] != '\0' ? holder : "(unknown command)", (long)pid,
                         path);
            else
                jerr_set(err, JERR_CONFLICT, "data_dir",
                         "data directory %s is in use by another process (its PID is not in "
                         "%s): one process owns a data directory; stop it first",
                         data_dir, path);
        } else {
            jerr_set(err, JERR_IO, "data_dir", "cannot lock %s: %s", path, strerror(errno));
        }
        close(fd);
        return NULL;
    }
    lock = calloc(1, sizeof(*lock));
    if (lock == NULL) {
        close(fd); /* releases the lock */
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    lock->fd = fd;
    if (writable) {
        int n = snprintf(text, sizeof(text), "%ld %s\n", (long)getpid(), command);
        if (ftruncate(fd, 0) == 0 && n > 0 && pwrite(fd, text, (size_t)n, 0) == n)
            lock->owner_written = true;
        /* Not written (disk full): the lock still holds; a refusal then says the PID is
         * unknown. */
    }
    return lock;
}

struct datalock *datalock_publication(const char *data_dir, struct jerr *err)
{
    char path[PATH_MAX];
    if (lock_path(data_dir, DATALOCK_PUBLICATION_FILE, path, sizeof(path), err) == -1)
        return NULL;
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        jerr_set(err, errno == ENOSPC ? JERR_UNAVAILABLE : JERR_IO, "data_dir",
                 "cannot open the CRL publication lock %s: %s", path, strerror(errno));
        return NULL;
    }
    if (flock_retry(fd, LOCK_EX) == -1) {
        jerr_set(err, JERR_IO, "data_dir", "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct datalock *lock = calloc(1, sizeof(*lock));
    if (lock == NULL) {
        close(fd);
        jerr_set(err, JERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    lock->fd = fd;
    return lock;
}

void datalock_release(struct datalock *lock)
{
    if (lock == NULL)
        return;
    /* Emptied while still held: a stale PID never names a process that no longer owns it. */
    if (lock->owner_written && ftruncate(lock->fd, 0) == -1)
        lock->owner_written = false; /* harmless: the next owner rewrites it */
    close(lock->fd);                 /* releases the flock */
    free(lock);
}

int datalock_owner(const char *data_dir, pid_t *pid, char *command, size_t size)
{
    char path[PATH_MAX];
    struct jerr err = {0};
    *pid = 0;
    if (size > 0)
        command[0] = '\0';
    if (lock_path(data_dir, DATALOCK_OWNER_FILE, path, sizeof(path), &err) == -1)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? 0 : -1;
    int rc;
    if (flock_retry(fd, LOCK_SH | LOCK_NB) == 0) {
        rc = 0; /* nobody holds it (we did, for this instant) */
    } else if (errno == EWOULDBLOCK) {
        read_owner_wait(fd, pid, command, size);
        rc = 1;
    } else {
        rc = -1;
    }
    close(fd);
    return rc;
}
