/*
 * datalock: the locks of a data directory (DESIGN §2: one process owns a data directory).
 *
 * - The owner lock, DATA_DIR/jpkid.lock: `jpkid serve` and `jpkid init` hold it exclusively
 *   for their whole life, so a second one refuses instead of republishing the CRLs and taking
 *   over the first one's batch rows. The holder writes "<pid> <command>" into the file, which
 *   is how the refusal names it and how `jpkid crl` finds the service to tell.
 * - The publication lock, DATA_DIR/crl.lock: every CRL publisher (the service's CRL duty,
 *   `jpkid crl`) holds it exclusively while it numbers, writes and renames its CRLs, so two
 *   publishers never interleave: the file renamed last always has the highest number.
 *
 * Both are flock(2) locks: released by the kernel when the holder dies (kill -9 included),
 * never by removing the file (removing a lock file races with the next one to open it).
 * flock locks belong to an open file description, so two threads of one process that each take
 * a lock exclude each other like two processes do. The descriptors are close-on-exec.
 */
#ifndef JPKI_DATALOCK_H
#define JPKI_DATALOCK_H

#include <stddef.h>
#include <sys/types.h>

#include "base/jerr.h"

struct datalock;

/* Takes the owner lock of `data_dir` for `command` ("serve", "init"), without waiting;
 * creates the lock file (0644) when missing, and writes "<pid> <command>" into it. A missing
 * directory is JERR_NOT_FOUND (init creates it first). When another process holds it:
 * JERR_CONFLICT, field "data_dir", with a sentence naming that process ("… is in use by
 * jpkid serve (PID 1234) …"). Returns the lock (the caller releases it), or NULL with err
 * filled. On a read-only file system the lock is still taken when the file exists, but no PID
 * is written. */
struct datalock *datalock_own(const char *data_dir, const char *command, struct jerr *err);

/* Takes the publication lock of `data_dir`, waiting while another publisher holds it. Returns
 * the lock, or NULL with err filled (the file cannot be opened). */
struct datalock *datalock_publication(const char *data_dir, struct jerr *err);

/* Releases the lock (an owner lock's file is emptied first); NULL is a no-op. */
void datalock_release(struct datalock *lock);

/* Who holds the owner lock of `data_dir`: returns 1 and fills *pid (0 when the holder has not
 * written it yet) and `command` (size bytes, "" when unknown) when a process holds it, 0 when
 * none does (or there is no lock file), -1 when the file cannot be read. Never takes the lock
 * for longer than the test itself. */
int datalock_owner(const char *data_dir, pid_t *pid, char *command, size_t size);

#endif
