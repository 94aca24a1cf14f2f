/*
 * ctl_prompt: see ctl_prompt.h. The terminal is read with echo off and the signals that would
 * leave it so held back meanwhile; password files are read whole and wiped after use.
 */
#include "ctl/ctl_prompt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/fsutil.h"
#include "keystore/card.h"
#include "ctl/ctl_card.h"
#include "ctl/ctl_out.h"

/* A password file is read whole, at most. */
#define CTL_PASSWORD_FILE_MAX 1024

/* Keeps the first line of buf (without "\n" or "\r\n"). Returns its length. */
static size_t first_line(char *buf)
{
    size_t n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    return n;
}

/* Reads one line from the terminal with echo off. Signals that would stop or kill us while
 * the echo is off wait until it is back on. Returns 0, or -1 with err (JERR_NOT_FOUND when
 * there is no terminal, JERR_TOO_LARGE for a line longer than size - 1). */
static int tty_password(const char *prompt, char *buf, size_t size, struct jerr *err)
{
    struct termios saved, quiet;
    sigset_t block, old_mask;
    size_t n = 0;
    bool too_long = false;
    int rc = -1;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd == -1)
        return jerr_set(err, JERR_NOT_FOUND, NULL, "no terminal");
    if (tcgetattr(fd, &saved) != 0) {
        close(fd);
        return jerr_set(err, JERR_NOT_FOUND, NULL, "no terminal");
    }
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGTSTP);
    sigaddset(&block, SIGTTIN);
    sigaddset(&block, SIGTTOU);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        jerr_set(err, JERR_IO, NULL, "cannot turn the terminal's echo off");
        goto out;
    }
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (n + 1 < size)
            buf[n++] = c;
        else
            too_long = true;
    }
    buf[n] = '\0';
    rc = 0;
    if (too_long)
        rc = jerr_set(err, JERR_TOO_LARGE, NULL, "the password is too long");
out:
    tcsetattr(fd, TCSAFLUSH, &saved);
    if (write(fd, "\n", 1) < 0) {
        /* nothing to do: the line is only cosmetic */
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(fd);
    return rc;
}

int ctl_prompt_password(struct ctl *ctl, const char *opt, const char *file, const char *env,
                        const char *prompt, char *buf)
{
    const size_t size = CTL_PASSWORD_MAX + 1;
    struct jerr err = {0};
    int rc = CTL_EXIT_OK;

    buf[0] = '\0';
    if (file != NULL) {
        unsigned char *data = NULL;
        size_t len = 0;
        char p[256];
        if (fsutil_read_file(file, CTL_PASSWORD_FILE_MAX, &data, &len, &err) == -1)
            return ctl_fail(ctl, CTL_EXIT_FAILED, "--%s %s: %s", opt,
                            ctl_out_shown(file, p, sizeof(p)), err.msg);
        size_t n = first_line((char *)data);
        if (n > CTL_PASSWORD_MAX)
            rc = ctl_fail(ctl, CTL_EXIT_FAILED, "--%s: the password is longer than %d characters",
                          opt, CTL_PASSWORD_MAX);
        else
            memcpy(buf, data, n + 1);
        OPENSSL_cleanse(data, len);
        free(data);
        return rc;
    }
    const char *value = env != NULL ? getenv(env) : NULL;
    if (value != NULL) {
        if (strlen(value) > CTL_PASSWORD_MAX)
            return ctl_fail(ctl, CTL_EXIT_FAILED, "%s: the password is longer than %d characters",
                            env, CTL_PASSWORD_MAX);
        memcpy(buf, value, strlen(value) + 1);
        return CTL_EXIT_OK;
    }
    if (tty_password(prompt, buf, size, &err) == -1) {
        OPENSSL_cleanse(buf, size);
        if (err.code == JERR_NOT_FOUND && env == NULL)
            return ctl_usage(ctl, "no password: give --%s FILE (there is no terminal to ask on)",
                             opt);
        if (err.code == JERR_NOT_FOUND)
            return ctl_usage(ctl,
                             "no password: give --%s FILE or set %s (there is no terminal "
                             "to ask on)",
                             opt, env);
        return ctl_fail(ctl, CTL_EXIT_FAILED, "%s", err.msg);
    }
    return CTL_EXIT_OK;
}

int ctl_prompt_new_password(struct ctl *ctl, enum ca_kind slot, const char *opt, const char *file,
                            const char *env, const char *whose, bool allow_empty, char *buf)
{
    char again[CTL_PASSWORD_MAX + 1] = "", prompt[160];
    struct jerr err = {0};
    bool from_tty = file == NULL && (env == NULL || getenv(env) == NULL);
    int rc;

    snprintf(prompt, sizeof(prompt), "New %s password%s%s (%s%s): ", ctl_card_slot_words(slot),
             whose != NULL ? " of " : "", whose != NULL ? whose : "",
             slot == CA_SIGN ? "6-16 of A-Z and 0-9" : "4 digits",
             allow_empty ? "; empty: the service generates one" : "");
    if ((rc = ctl_prompt_password(ctl, opt, file, env, prompt, buf)) != CTL_EXIT_OK)
        return rc;
    if (from_tty && allow_empty && buf[0] == '\0')
        return CTL_EXIT_OK;
    /* RULE guide 4(7), DESIGN §1: checked here, before anything is sent or tried */
    if (card_image_check_password(slot, buf, &err) == -1) {
        OPENSSL_cleanse(buf, CTL_PASSWORD_MAX + 1);
        return ctl_fail(ctl, CTL_EXIT_FAILED, "the new password is refused: %s", err.msg);
    }
    if (!from_tty)
        return CTL_EXIT_OK;
    /* typed without echo: asked twice, so a typing mistake is not what the card keeps */
    rc = ctl_prompt_password(ctl, opt, NULL, NULL, "Repeat it: ", again);
    if (rc == CTL_EXIT_OK && strcmp(again, buf) != 0)
        rc = ctl_fail(ctl, CTL_EXIT_FAILED, "the two %s passwords differ; nothing was done",
                      ctl_card_slot_words(slot));
    if (rc != CTL_EXIT_OK)
        OPENSSL_cleanse(buf, CTL_PASSWORD_MAX + 1);
    OPENSSL_cleanse(again, sizeof(again));
    return rc;
}
