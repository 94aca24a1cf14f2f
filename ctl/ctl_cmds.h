/*
 * ctl_cmds: the table of jpkictl's commands — each one's words, arguments, options, help and the
 * function that runs it. A new command (the card holder's, later) is one more row here and a
 * function in its own module; the parser, --help and the listings follow from the row.
 */
#ifndef JPKI_CTL_CMDS_H
#define JPKI_CTL_CMDS_H

#include <stddef.h>

#include "ctl/ctl_args.h"

extern const struct ctl_cmd ctl_cmds[];
extern const size_t ctl_cmds_count;

#endif
