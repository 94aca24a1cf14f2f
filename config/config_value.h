/*
 * config_value: the checks of single configuration values (URLs, listen addresses, OIDs,
 * subjects, ids, environment variable names) and how config quotes an outside value in a
 * message. Each check returns 0, or -1 with the reason in `why`.
 */
#ifndef JPKI_CONFIG_VALUE_H
#define JPKI_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_SHOW_MAX 64 /* bytes of an offending value quoted in a message */

/* An outside value quoted in a message: escaped, cut at CONFIG_SHOW_MAX bytes. */
const char *config_show(char *buf, size_t size, const char *s, size_t len);

/* Writes the reason into why and returns -1. */
int config_why(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Whether s[0..len) is one or more decimal digits. */
bool config_all_digits(const char *s, size_t len);

int config_check_url(const char *s, char *why, size_t why_size);
int config_check_port(const char *p, char *why, size_t why_size);
int config_check_listen(const char *s, char *why, size_t why_size);
int config_check_oid(const char *s, char *why, size_t why_size);
int config_check_subject(const char *s, char *why, size_t why_size);
int config_check_id(const char *s, char *why, size_t why_size);
int config_check_envname(const char *s, char *why, size_t why_size);

#endif
