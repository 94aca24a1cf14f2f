/*
 * access: see access.h. The decision is a pure function; the facts come from the gate.
 */
#include "responder/net/access.h"

#include <string.h>

#include "ca/rp.h"

bool access_decide(enum access_mode mode, enum rpgate_verdict verdict)
{
    if (mode == ACCESS_OPEN)
        return true;
    /* registered: an active party; anything else (an unknown mode included) is refused. */
    return mode == ACCESS_REGISTERED && verdict == RPGATE_PARTY;
}

bool access_admit(enum access_mode mode, struct rpgate *gate, const struct server_request *sr,
                  struct rpgate_who *who)
{
    memset(who, 0, sizeof(*who));
    if (gate == NULL || !sr->tls) /* no credential over plain HTTP: nothing to look up */
        return access_decide(mode, RPGATE_NO_CREDENTIAL);
    enum rpgate_verdict verdict = rpgate_identify(gate, sr, who);
    if (verdict != RPGATE_PARTY)
        who->pk = 0; /* a suspended party is not metered as answered */
    return access_decide(mode, verdict);
}

bool access_admit_ca(enum access_mode mode, enum ca_kind ca, struct rpgate_who *who)
{
    if (who->pk == 0 || rp_kind_allows(who->kind, ca))
        return true;
    if (mode == ACCESS_REGISTERED)
        return false;
    who->pk = 0;
    return true;
}
