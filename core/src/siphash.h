/* siphash.h — SipHash-2-4 (internal); mtp_keyed_hash() of program.h uses it. */
#ifndef MTP_SIPHASH_H
#define MTP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include "mtp/program.h"

uint64_t mtp__siphash24(const uint64_t key[2], const void *data, size_t len);

#endif
