/*
 * sock_protos.c — the registry of protocol shims: which names MTP_PROTO accepts and the
 * shim (shim_<proto>.c) behind each. Adding a protocol is one line here.
 */
#include <string.h>

#include "sock_impl.h"

static const struct mtp_sock_proto *const protos[] = {
    &mtp__sock_proto_tcp,
    &mtp__sock_proto_homa,
    &mtp__sock_proto_quic,
};
static const char *const proto_names[] = {"tcp", "homa", "quic", NULL};

const struct mtp_sock_proto *mtp_sock_proto_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof protos / sizeof protos[0]; i++)
        if (strcmp(protos[i]->name, name) == 0)
            return protos[i];
    return NULL;
}

const char *const *mtp_sock_proto_names(void) { return proto_names; }
const struct mtp_program *mtp_sock_proto_program(const struct mtp_sock_proto *p) { return p->prog; }
const char *mtp_sock_proto_name(const struct mtp_sock_proto *p) { return p->name; }
