/*
 * test_datalock: the owner lock and the publication lock of a data directory
 * (base/datalock.c) — a second owner refused with a sentence naming the holder's PID and
 * command, also from another process; the lock free again at release and when the holder dies;
 * datalock_owner telling who holds it; a missing directory; the publication lock making a
 * second publisher wait.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/datalock.h"
#include "testutil.h"

static void read_text(const char *name, char *buf, size_t size)
{
    char path[4096];
    testutil_path(path, sizeof(path), name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

START_TEST(test_second_owner_refused_naming_the_pid)
{
    struct jerr err = {0};
    char text[64], want[128], command[32];
    pid_t pid = -1;
    ck_assert_int_eq(datalock_owner(testutil_tmpdir, &pid, command, sizeof(command)),
                     0); /* no file yet */

    struct datalock *lock = datalock_own(testutil_tmpdir, "serve", &err);
    ck_assert_msg(lock != NULL, "%s", err.msg);
    read_text("jpkid.lock", text, sizeof(text));
    snprintf(want, sizeof(want), "%ld serve\n", (long)getpid());
    ck_assert_str_eq(text, want);

    /* A second open file description conflicts like a second process would. */
    ck_assert_ptr_null(datalock_own(testutil_tmpdir, "init", &err));
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    ck_assert_str_eq(err.field, "data_dir");
    snprintf(want, sizeof(want), "is in use by jpkid serve (PID %ld", (long)getpid());
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, testutil_tmpdir) != NULL, "%s", err.msg);

    ck_assert_int_eq(datalock_owner(testutil_tmpdir, &pid, command, sizeof(command)), 1);
    ck_assert_int_eq(pid, getpid());
    ck_assert_str_eq(command, "serve");

    /* Released: the file is emptied, nobody holds it, the next owner gets it. */
    datalock_release(lock);
    read_text("jpkid.lock", text, sizeof(text));
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(datalock_owner(testutil_tmpdir, &pid, command, sizeof(command)), 0);
    ck_assert_int_eq(pid, 0);
    memset(&err, 0, sizeof(err));
    lock = datalock_own(testutil_tmpdir, "init", &err);
    ck_assert_msg(lock != NULL, "%s", err.msg);
    datalock_release(lock);
    datalock_release(NULL);
}
END_TEST

/* Forks a child that takes a lock of the data directory (the publication lock, or else the
 * owner lock as "serve"), tells the parent through READY, then holds it HOLD_S seconds and
 * releases it, or holds it until killed when HOLD_S < 0. The child takes it after the fork: a
 * lock taken before would be shared through the inherited descriptor. Returns once it holds. */
static pid_t child_holding(bool publication, double hold_s, int ready[2])
{
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        struct jerr cerr = {0};
        struct datalock *held = publication ? datalock_publication(testutil_tmpdir, &cerr)
                                            : datalock_own(testutil_tmpdir, "serve", &cerr);
        char c = held != NULL ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        if (hold_s < 0)
            pause();
        struct timespec hold = {0, (long)(hold_s * 1e9)};
        nanosleep(&hold, NULL);
        datalock_release(held);
        _exit(0);
    }
    char c = 0;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 'y');
    return child;
}

/* Another process holds it, then dies without releasing (kill -9): the kernel frees the lock,
 * and the PID it left in the file misleads nobody. */
START_TEST(test_other_process_and_its_death)
{
    int ready[2];
    pid_t child = child_holding(false, -1, ready);

    struct jerr err = {0};
    char want[64], command[32];
    pid_t pid = 0;
    ck_assert_ptr_null(datalock_own(testutil_tmpdir, "serve", &err));
    ck_assert_int_eq(err.code, JERR_CONFLICT);
    snprintf(want, sizeof(want), "(PID %ld,", (long)child);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
    ck_assert_int_eq(datalock_owner(testutil_tmpdir, &pid, command, sizeof(command)), 1);
    ck_assert_int_eq(pid, child);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(datalock_owner(testutil_tmpdir, &pid, command, sizeof(command)), 0);
    memset(&err, 0, sizeof(err));
    struct datalock *lock = datalock_own(testutil_tmpdir, "serve", &err);
    ck_assert_msg(lock != NULL, "%s", err.msg);
    datalock_release(lock);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

START_TEST(test_missing_directory)
{
    struct jerr err = {0};
    char path[4096];
    pid_t pid;
    char command[32];
    snprintf(path, sizeof(path), "%s/none", testutil_tmpdir);
    ck_assert_ptr_null(datalock_own(path, "serve", &err));
    ck_assert_int_eq(err.code, JERR_NOT_FOUND);
    ck_assert_msg(strstr(err.msg, "does not exist") != NULL, "%s", err.msg);
    ck_assert_int_eq(datalock_owner(path, &pid, command, sizeof(command)), 0);
    ck_assert_int_eq(access(path, F_OK), -1); /* not created */
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A second publisher waits until the first (here a child process) releases the lock. */
START_TEST(test_publication_waits)
{
    const double hold_s = 0.4;
    int ready[2];
    pid_t child = child_holding(true, hold_s, ready);
    double t0 = now_s();
    struct jerr err = {0};
    struct datalock *lock = datalock_publication(testutil_tmpdir, &err);
    ck_assert_msg(lock != NULL, "%s", err.msg);
    double waited = now_s() - t0;
    ck_assert_msg(waited > hold_s / 2 && waited < 5, "waited %.3f s", waited);
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The publication lock is not the owner lock: an owner is not disturbed by it. */
    struct datalock *owner = datalock_own(testutil_tmpdir, "serve", &err);
    ck_assert_msg(owner != NULL, "%s", err.msg);
    datalock_release(owner);
    datalock_release(lock);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

static Suite *datalock_suite(void)
{
    Suite *s = suite_create("datalock");
    TCase *tc = tcase_create("locks");
    tcase_add_checked_fixture(tc, testutil_tmpdir_setup, testutil_tmpdir_teardown);
    tcase_add_test(tc, test_second_owner_refused_naming_the_pid);
    tcase_add_test(tc, test_other_process_and_its_death);
    tcase_add_test(tc, test_missing_directory);
    tcase_add_test(tc, test_publication_waits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(datalock_suite());
}
