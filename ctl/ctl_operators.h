/*
 * ctl_operators: jpkictl operator add|list|disable|rotate — the management of operator
 * credentials (POST|GET /v1/operators, POST /v1/operators/{name}/disable|rotate; docs/API.md).
 * A new or rotated token is printed once, or written to --token-out (0600, never over an
 * existing file).
 */
#ifndef JPKI_CTL_OPERATORS_H
#define JPKI_CTL_OPERATORS_H

#include "ctl/ctl.h"

int ctl_operators_add(struct ctl *ctl, const struct ctl_args *args);
int ctl_operators_list(struct ctl *ctl, const struct ctl_args *args);
int ctl_operators_disable(struct ctl *ctl, const struct ctl_args *args);
int ctl_operators_rotate(struct ctl *ctl, const struct ctl_args *args);

#endif
