/* errors.c — messages of the error table in mtp/errors.h. */
#include <string.h>
#include "mtp/errors.h"

const char *mtp_strerror(int code)
{
    if (code >= 0)
        return "success";
    switch (code) {
#define MTP__ERR_CASE(name, errnum, msg) case name: return msg;
        MTP_ERROR_TABLE(MTP__ERR_CASE)
#undef MTP__ERR_CASE
    }
    return strerror(-code);
}
