/* The cache of finished messages' receive blocks (ctx_rt.c): what a later message's unit gets. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "engine_internal.h"
#include "units.h"

/* A block of `cap` data bytes whose data is dirty and whose bitmap is clear, as an idle unit
 * leaves it. */
static uint8_t *block_of(uint32_t cap)
{
    uint8_t *b = malloc(mtp__rx_block_bytes(cap));
    cr_assert_not_null(b);
    memset(b, 0xab, cap);
    memset(b + cap, 0, cap / 8);
    return b;
}

static bool bitmap_clear(const uint8_t *b, uint32_t cap)
{
    for (uint32_t i = 0; i < cap / 8; i++)
        if (b[cap + i])
            return false;
    return true;
}

Test(msg_cache, a_block_of_the_same_capacity_is_reused_as_is)
{
    struct mtp__msg_cache c = {0};
    uint8_t *b = block_of(65536);
    mtp__msg_cache_put(&c, b, 65536);
    cr_assert_eq(mtp__msg_cache_take(&c, 65536), b);
    cr_assert_eq(c.n, 0u);
    cr_assert_null(mtp__msg_cache_take(&c, 65536), "taken once");
    free(b);
}

/* A larger block's data area covers the smaller unit's bitmap: it is cleared */
Test(msg_cache, a_larger_block_gets_its_bitmap_cleared_at_the_new_capacity)
{
    struct mtp__msg_cache c = {0};
    uint8_t *b = block_of(100032);
    mtp__msg_cache_put(&c, b, 100032);
    uint8_t *got = mtp__msg_cache_take(&c, 65536);
    cr_assert_eq(got, b);
    cr_assert(bitmap_clear(got, 65536));
    free(b);
}

Test(msg_cache, too_large_or_too_small_is_not_taken)
{
    struct mtp__msg_cache c = {0};
    mtp__msg_cache_put(&c, block_of(1048576), 1048576);
    mtp__msg_cache_put(&c, block_of(4096), 4096);
    cr_assert_null(mtp__msg_cache_take(&c, 65536), "1 MB is over twice 64 KB; 4 KB too small");
    cr_assert_eq(c.n, 2u);
    mtp__msg_cache_drop(&c);
    cr_assert_eq(c.n, 0u);
}

Test(msg_cache, a_full_cache_lets_the_oldest_go)
{
    struct mtp__msg_cache c = {0};
    uint8_t *first = block_of(64);
    mtp__msg_cache_put(&c, first, 64);
    for (uint32_t i = 1; i < MTP__MSG_CACHE; i++)
        mtp__msg_cache_put(&c, block_of(256), 256);
    cr_assert_eq(c.n, MTP__MSG_CACHE);
    mtp__msg_cache_put(&c, block_of(256), 256); /* frees `first` (ASan: no leak, no reuse) */
    cr_assert_eq(c.n, MTP__MSG_CACHE);
    cr_assert_null(mtp__msg_cache_take(&c, 64), "the oldest went");
    mtp__msg_cache_drop(&c);
}
