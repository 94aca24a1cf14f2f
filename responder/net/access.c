/*
 * access: see access.h. The decision is a pure function; the facts come from the server.
 */
#include "responder/net/access.h"

bool access_decide(enum access_mode mode, bool tls, bool relying_party)
{
    if (mode == ACCESS_OPEN)
        return true;
    /* client_cert: a certificate can only have been verified on a TLS connection; anything
     * else (an unknown mode included) is refused. */
    return mode == ACCESS_CLIENT_CERT && tls && relying_party;
}

bool access_is_allowed(enum access_mode mode, const struct server_request *sr)
{
    if (mode == ACCESS_OPEN)
        return true; /* no TLS lookup on the open hot path */
    return access_decide(mode, sr->tls, sr->tls && server_request_is_relying_party(sr));
}
