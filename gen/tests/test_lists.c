/*
 * test_lists.c — the generated C of gen/tests/ok/lists.mtp: a sorted list found by another
 * field, updated in place (it moves to its new rank), removed by key; the same on a plain
 * list; and set_flow_prio as an instruction.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "lists.h"

static struct mtp_instr instrs[8];
static uint8_t arena[256];
static struct mtp_ibuf ibuf;
static struct mtp_exec x;
static struct mtpg_lists_book book;

static void setup(void)
{
    ibuf = (struct mtp_ibuf){.v = instrs, .cap = 8, .arena = arena, .arena_cap = sizeof arena};
    memset(&x, 0, sizeof x);
    x.out = &ibuf;
    mtpg_lists_ctx_book_init(&book);
}

TestSuite(lists, .init = setup);

static void op(uint8_t kind, uint64_t id, uint32_t rem)
{
    struct mtpg_lists_op ev = {.kind = kind, .id = id, .rem = rem, .peer = (uint16_t)(id * 3)};
    mtpg_lists_proc_on_op(&x, &ev, &book);
}

static void expect_order(const uint64_t *ids, uint32_t n)
{
    cr_assert_eq(book.by_rem.len, n);
    for (uint32_t i = 0; i < n; i++) {
        cr_expect_eq(book.by_rem.v[i].id, ids[i], "position %u", i);
        if (i)
            cr_expect_leq(book.by_rem.v[i - 1].remaining, book.by_rem.v[i].remaining);
    }
}

Test(lists, find_update_remove_by_key_keep_the_order)
{
    op(MTPG_LISTS_ADD, 1, 500);
    op(MTPG_LISTS_ADD, 2, 100);
    op(MTPG_LISTS_ADD, 3, 300);
    op(MTPG_LISTS_ADD, 4, 300);
    expect_order((const uint64_t[]){2, 3, 4, 1}, 4);
    op(MTPG_LISTS_UPDATE, 1, 50); /* the longest becomes the shortest */
    cr_expect_eq(book.last_find, 3);
    expect_order((const uint64_t[]){1, 2, 3, 4}, 4);
    op(MTPG_LISTS_UPDATE, 3, 300); /* same key: after its equals, as add does */
    expect_order((const uint64_t[]){1, 2, 4, 3}, 4);
    op(MTPG_LISTS_UPDATE, 2, 1000); /* to the end */
    expect_order((const uint64_t[]){1, 4, 3, 2}, 4);
    op(MTPG_LISTS_REMOVE, 4, 0);
    cr_expect_eq(book.last_find, 1);
    expect_order((const uint64_t[]){1, 3, 2}, 3);
    op(MTPG_LISTS_UPDATE, 99, 1); /* not there: find gives len, update does nothing */
    cr_expect_eq(book.last_find, 3);
    op(MTPG_LISTS_REMOVE, 99, 0);
    expect_order((const uint64_t[]){1, 3, 2}, 3);
    cr_expect_eq(ibuf.n, 0, "list methods are not instructions");
}

Test(lists, plain_list_find_and_update)
{
    op(MTPG_LISTS_PLAIN, 7, 10);
    op(MTPG_LISTS_PLAIN, 8, 20);
    cr_assert_eq(book.plain.len, 2);
    cr_expect_eq(book.plain.v[0].remaining, 11, "found by peer 21 and updated");
    cr_expect_eq(book.plain.v[1].remaining, 21);
    cr_expect_eq(book.plain.v[1].peer, 24);
}

Test(lists, set_flow_prio_is_one_instruction)
{
    struct mtpg_lists_flow f;
    mtpg_lists_ctx_flow_init(&f);
    struct mtpg_lists_op2 ev = {.rem = 1234};
    mtpg_lists_proc_rank_flow(&x, &ev, &f);
    cr_assert_eq(ibuf.n, 1);
    cr_expect_eq(instrs[0].op, MTP_OP_SET_FLOW_PRIO);
    cr_expect_eq(instrs[0].u.sched.value, 1234);
    cr_expect_eq(instrs[0].flags, 0, "on the event's context");
}

Test(lists, a_local_list_of_a_struct_no_field_uses)
{
    op(MTPG_LISTS_LOCAL, 1, 500);
    cr_expect_eq(book.span_sum, 12);
    cr_expect_eq(book.by_rem.len, 0);
}
