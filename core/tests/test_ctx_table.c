/* Context table: insert/find/delete by (type, key), capacity, 100k live instances. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/errors.h"
#include "ctx_table.h"

static const uint64_t secret[2] = { 11, 22 };

static struct mtp_key key_of(uint32_t i, uint8_t salt)
{
    struct mtp_key k;
    memset(&k, 0, sizeof k);
    memcpy(k.b, &i, sizeof i);
    k.b[23] = salt;
    return k;
}

Test(ctx_table, insert_find_delete_by_type_and_key)
{
    struct mtp__ctx_table ct;
    const uint32_t sizes[2] = { 40, 8 };
    cr_assert_eq(mtp__ctxt_init(&ct, 2, sizes, 16, secret), 0);
    struct mtp_key a = key_of(1, 0), b = key_of(2, 0);
    struct mtp__ctx *ca, *cb, *ca1;
    cr_assert_eq(mtp__ctxt_insert(&ct, 0, &a, &ca), 0);
    cr_assert_eq(mtp__ctxt_insert(&ct, 0, &b, &cb), 0);
    cr_assert_eq(mtp__ctxt_insert(&ct, 1, &a, &ca1), 0, "same key, other type: distinct");
    cr_expect_eq(mtp__ctxt_insert(&ct, 0, &a, &ca), MTP_EEXIST);
    cr_expect_eq(mtp__ctxt_find(&ct, 0, &a), ca);
    cr_expect_eq(mtp__ctxt_find(&ct, 1, &a), ca1);
    cr_expect_eq(mtp__ctxt_find(&ct, 0, &b), cb);
    struct mtp_key c = key_of(1, 9);
    cr_expect_null(mtp__ctxt_find(&ct, 0, &c), "differs only in the last key byte");
    cr_expect_null(mtp__ctxt_find(&ct, 7, &a), "unknown type");
    for (int i = 0; i < 40; i++)
        cr_expect_eq(ca->data[i], 0, "new instances are zeroed");
    cr_expect_eq(((uintptr_t)ca->data) % 16, 0);
    mtp__ctxt_remove(&ct, ca);
    cr_expect_null(mtp__ctxt_find(&ct, 0, &a));
    cr_expect_eq(mtp__ctxt_find(&ct, 0, &b), cb);
    cr_expect_eq(mtp__ctxt_count(&ct, 0), 1);
    cr_expect_eq(mtp__ctxt_insert(&ct, 0, &a, &ca), 0, "a deleted key can come back");
    mtp__ctxt_destroy(&ct);
}

Test(ctx_table, capacity_per_type_is_bounded)
{
    struct mtp__ctx_table ct;
    const uint32_t sizes[2] = { 8, 8 };
    cr_assert_eq(mtp__ctxt_init(&ct, 2, sizes, 100, secret), 0);
    struct mtp__ctx *c;
    for (uint32_t i = 0; i < 100; i++) {
        struct mtp_key k = key_of(i, 0);
        cr_assert_eq(mtp__ctxt_insert(&ct, 0, &k, &c), 0);
    }
    struct mtp_key k = key_of(100, 0);
    cr_expect_eq(mtp__ctxt_insert(&ct, 0, &k, &c), MTP_ENOBUFS);
    cr_expect_eq(mtp__ctxt_insert(&ct, 1, &k, &c), 0, "the other type has its own bound");
    struct mtp_key k0 = key_of(0, 0);
    mtp__ctxt_remove(&ct, mtp__ctxt_find(&ct, 0, &k0));
    cr_expect_eq(mtp__ctxt_insert(&ct, 0, &k, &c), 0, "room again after a delete");
    mtp__ctxt_destroy(&ct);
}

Test(ctx_table, hundred_thousand_live_contexts)
{
    enum { N = 100000 };
    struct mtp__ctx_table ct;
    const uint32_t sizes[1] = { 64 };
    cr_assert_eq(mtp__ctxt_init(&ct, 1, sizes, 131072, secret), 0);
    for (uint32_t i = 0; i < N; i++) {
        struct mtp_key k = key_of(i * 2654435761u, 1);
        struct mtp__ctx *c;
        cr_assert_eq(mtp__ctxt_insert(&ct, 0, &k, &c), 0, "insert %u", i);
        memcpy(c->data, &i, sizeof i);
    }
    cr_expect_eq(mtp__ctxt_count(&ct, 0), N);
    for (uint32_t i = 0; i < N; i++) {
        struct mtp_key k = key_of(i * 2654435761u, 1);
        struct mtp__ctx *c = mtp__ctxt_find(&ct, 0, &k);
        cr_assert_not_null(c, "find %u", i);
        uint32_t v;
        memcpy(&v, c->data, sizeof v);
        cr_assert_eq(v, i);
    }
    /* delete the even ones, the odd ones stay findable */
    for (uint32_t i = 0; i < N; i += 2) {
        struct mtp_key k = key_of(i * 2654435761u, 1);
        mtp__ctxt_remove(&ct, mtp__ctxt_find(&ct, 0, &k));
    }
    for (uint32_t i = 0; i < N; i++) {
        struct mtp_key k = key_of(i * 2654435761u, 1);
        cr_assert_eq(mtp__ctxt_find(&ct, 0, &k) != NULL, i % 2 == 1, "after delete %u", i);
    }
    mtp__ctxt_destroy(&ct);
}
