/*
 * errors.h — the runtime's error codes: one X-macro table of negative codes, each the
 * negation of an errno value, so preload/ can turn a code into errno with `errno = -code`.
 * Functions return >= 0 on success or one of these codes.
 */
#ifndef MTP_ERRORS_H
#define MTP_ERRORS_H

#include <errno.h>

/*  X(name,          errno,        message) */
#define MTP_ERROR_TABLE(X)                                                                   \
    X(MTP_ENOMEM,    ENOMEM,       "out of memory")                                          \
    X(MTP_ENOBUFS,   ENOBUFS,      "bounded pool or buffer exhausted")                       \
    X(MTP_EAGAIN,    EAGAIN,       "resource temporarily unavailable, try again")            \
    X(MTP_EEXIST,    EEXIST,       "already exists (context instance, data unit)")           \
    X(MTP_ENOENT,    ENOENT,       "no such entry (context instance, data unit)")            \
    X(MTP_EINVAL,    EINVAL,       "invalid argument")                                       \
    X(MTP_EPROTO,    EPROTO,       "invalid program descriptor")                             \
    X(MTP_EABI,      ENOEXEC,      "program ABI version mismatch: recompile it with this mtpc") \
    X(MTP_ERANGE,    ERANGE,       "byte range outside the data unit")                       \
    X(MTP_EMSGSIZE,  EMSGSIZE,     "packet does not fit the buffer or the MTU")              \
    X(MTP_EBUSY,     EBUSY,        "engine busy (call from inside a notification)")          \
    X(MTP_ENOSPC,    ENOSPC,       "data unit full")                                         \
    X(MTP_EBADMSG,   EBADMSG,      "malformed packet (dropped and counted)")

enum mtp_error {
#define MTP__ERR_ENUM(name, errnum, msg) name = -(errnum),
    MTP_ERROR_TABLE(MTP__ERR_ENUM)
#undef MTP__ERR_ENUM
};

/* A message for a code returned by any mtp_ function (or for a negated errno value). */
const char *mtp_strerror(int code);

#endif
