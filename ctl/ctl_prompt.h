/*
 * ctl_prompt: jpkictl's passwords — from a file, the environment or the terminal without echo.
 * A password is never printed; the caller owns the buffer and wipes it (OPENSSL_cleanse).
 */
#ifndef JPKI_CTL_PROMPT_H
#define JPKI_CTL_PROMPT_H

#include <stdbool.h>

#include "config/config.h"
#include "ctl/ctl.h"

/* A password read from a file, the environment or the terminal, at most (bytes). */
#define CTL_PASSWORD_MAX 64

/* Reads a password into buf (CTL_PASSWORD_MAX + 1 bytes): the first line of `file` (option
 * `opt`) when given, else the environment variable `env` (may be NULL), else the terminal with
 * `prompt` and echo off. Returns an exit code (ctl.h); a usage error when there is no terminal
 * to ask on. */
int ctl_prompt_password(struct ctl *ctl, const char *opt, const char *file, const char *env,
                        const char *prompt, char *buf);

/* A new password for `slot` (buf: CTL_PASSWORD_MAX + 1 bytes, the caller wipes it): the
 * first line of `file` (option `opt`), else the environment variable `env` (may be NULL),
 * else the terminal without echo, asked twice ("New signing password of card c1 (…): ",
 * `whose` may be NULL). It must follow the card's rule (card_image_check_password). With
 * `allow_empty`, an empty answer on the terminal is accepted and leaves buf "" (the service
 * generates one). Returns an exit code. */
int ctl_prompt_new_password(struct ctl *ctl, enum ca_kind slot, const char *opt, const char *file,
                            const char *env, const char *whose, bool allow_empty, char *buf);

#endif
