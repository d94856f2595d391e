/*
 * test_constructs.c — the generated C of gen/tests/ok/constructs.mtp: enum values and
 * types, `in` sets, `for ... in` (forward over an event list by reference, reverse with
 * removal), named-field record literals with blueprint defaults, const parameters and locals.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "constructs.h"

static struct mtp_instr in[4];
static uint8_t arena[1024];
static struct mtp_ibuf b;
static struct mtp_exec x;
static struct mtpg_constructs_conn c;

static void setup(void)
{
    memset(&b, 0, sizeof b);
    b.v = in;
    b.cap = 4;
    b.arena = arena;
    b.arena_cap = sizeof arena;
    memset(&x, 0, sizeof x);
    x.out = &b;
    mtpg_constructs_ctx_conn_init(&c);
}

static struct mtpg_constructs_range rng(uint32_t l, uint32_t r)
{
    return (struct mtpg_constructs_range){.left = l, .right = r};
}

Test(constructs, enum_members_count_up_and_have_the_enum_type, .init = setup)
{
    cr_expect_eq(MTPG_CONSTRUCTS_CLOSED, 0);
    cr_expect_eq(MTPG_CONSTRUCTS_LISTEN, 1);
    cr_expect_eq(MTPG_CONSTRUCTS_SYN_SENT, 5);
    cr_expect_eq(MTPG_CONSTRUCTS_ESTABLISHED, 6);
    cr_expect_eq(MTPG_CONSTRUCTS_CLOSING, 7);
    cr_expect_eq(sizeof c.st, 1, "enum state is uint8 by default");
    cr_expect_eq(sizeof c.size, 2, "enum big : uint16");
    cr_expect_eq(c.st, MTPG_CONSTRUCTS_LISTEN, "initialised from an enum member");
    cr_expect_eq(c.size, 1000);
}

Test(constructs, for_in_set_membership_and_record_literals, .init = setup)
{
    struct mtpg_constructs_seg ev;
    memset(&ev, 0, sizeof ev);
    ev.seq = 100;
    ev.want = MTPG_CONSTRUCTS_ESTABLISHED;
    ev.blocks.len = 3;
    ev.blocks.v[0] = rng(0, 50);     /* right <= seq: removed again below */
    ev.blocks.v[1] = rng(120, 130);
    ev.blocks.v[2] = rng(200, 260);
    ev.blocks.v[3] = rng(1, 1000);   /* past len: never visited */
    cr_assert_eq(mtpg_constructs_proc_on_seg(&x, &ev, &c), 0);
    cr_expect_eq(c.total, 50 + 10 + 60, "width() over a const list parameter");
    cr_expect_eq(c.last_index, 2, "index of the last block left of seq");
    cr_assert_eq(c.held.len, 2, "the reverse loop removed the block below seq");
    cr_expect_eq(c.held.v[0].left, 120);
    cr_expect_eq(c.held.v[1].left, 200);
    cr_expect_eq(c.st, MTPG_CONSTRUCTS_ESTABLISHED, "ESTABLISHED in {ESTABLISHED}, first.left == 0");
    cr_expect_eq(c.hits, 1, "open(): st in {SYN_SENT, ESTABLISHED}");
    cr_assert_eq(b.n, 1);
    cr_assert_eq(in[0].op, MTP_OP_PKT_GEN);
    struct mtpg_constructs_ack_bp a;
    memcpy(&a, arena + in[0].arena_off, sizeof a);
    cr_expect_eq(a.port, 7, "unnamed fields keep their initialisers");
    cr_expect_eq(a.seq, 120);
    cr_expect_eq(a.ack, 101);
    cr_expect_eq(a.f_ack, 1);
}

Test(constructs, a_state_in_the_set_returns_early, .init = setup)
{
    struct mtpg_constructs_seg ev;
    memset(&ev, 0, sizeof ev);
    c.st = MTPG_CONSTRUCTS_CLOSING;
    ev.blocks.len = 1;
    ev.blocks.v[0] = rng(1, 2);
    cr_assert_eq(mtpg_constructs_proc_on_seg(&x, &ev, &c), 0);
    cr_expect_eq(c.total, 0);
    cr_expect_eq(b.n, 0);
}

Test(constructs, named_struct_literal_in_any_order, .init = setup)
{
    struct mtpg_constructs_poke ev = {.n = 9};
    cr_assert_eq(mtpg_constructs_proc_on_poke(&x, &ev, &c), 0);
    cr_assert_eq(c.held.len, 1);
    cr_expect_eq(c.held.v[0].left, 1);
    cr_expect_eq(c.held.v[0].right, 9);
    cr_expect_eq(c.hits, 10);
}

Test(constructs, a_param_chooses_the_chain_step, .init = setup)
{
    struct mtpg_constructs_poke ev = {.n = 9};
    cr_expect_eq(mtpg_constructs_program.dispatch(&x, MTPG_CONSTRUCTS_EV_POKE, &ev, &c, NULL, 0), 1);
    cr_expect_eq(c.hits, 10, "MODE 0: on_poke");
    mtpg_constructs_param_MODE = 2;
    cr_expect_eq(mtpg_constructs_program.dispatch(&x, MTPG_CONSTRUCTS_EV_POKE, &ev, &c, NULL, 0), 1);
    cr_expect_eq(c.hits, 110, "MODE 2: on_poke_twice");
    cr_assert_eq(b.n, 1);
    struct mtpg_constructs_ack_bp a;
    memcpy(&a, arena + in[0].arena_off, sizeof a);
    cr_expect(a.port == 7 && a.seq == 0 && a.f_ack == 0, "ack_bp() is the blueprint's initial value");
    mtpg_constructs_param_MODE = 3;
    cr_expect_eq(mtpg_constructs_program.dispatch(&x, MTPG_CONSTRUCTS_EV_POKE, &ev, &c, NULL, 0), 0);
    mtpg_constructs_param_MODE = 0;
}

Test(constructs, add_takes_several_values_in_order, .init = setup)
{
    struct mtpg_constructs_pair ev = {.a = 4, .b = 6};
    cr_assert_eq(mtpg_constructs_proc_on_pair(&x, &ev, &c), 0);
    cr_assert_eq(c.held.len, 2);
    cr_expect(c.held.v[0].left == 4 && c.held.v[0].right == 6);
    cr_expect(c.held.v[1].left == 6 && c.held.v[1].right == 10);
    cr_expect_eq(c.last_index, 1, "keyed_hash(k, 7) is keyed_hash(k.ip, k.port, 7)");
}

Test(constructs, a_record_literal_copies_fields_by_name, .init = setup)
{
    struct mtpg_constructs_hello ev = {.ip = 1000, .port = 7, .left = 3, .right = 9};
    cr_assert_eq(mtpg_constructs_proc_on_hello(&x, &ev, &c), 0);
    cr_assert_eq(c.held.len, 1);
    cr_expect_eq(c.held.v[0].left, 3);
    cr_expect_eq(c.held.v[0].right, 10, "the named field wins");
    cr_expect_eq(c.total, 1007);
    cr_expect_eq(c.hits, 2 + 1000 + MTPG_CONSTRUCTS_ESTABLISHED, "size starts as LARGE");
}

Test(constructs, guards_one_expression_functions_and_for_in_over_a_value, .init = setup)
{
    c.held.len = 3;
    c.held.v[0] = rng(1, 20);
    c.held.v[1] = rng(5, 8);        /* narrower than 10: not in the_wide() */
    c.held.v[2] = rng(30, 45);
    struct mtpg_constructs_tick ev = {.n = 7};
    cr_expect_eq(mtpg_constructs_program.dispatch(&x, MTPG_CONSTRUCTS_EV_TICK, &ev, &c, NULL, 0), 1,
                 "`stop count(c, 70)` stopped the chain after on_tick");
    cr_expect_eq(c.total, 2 * 1 + 2 * 30, "twice(left) of the wide ranges only");
    cr_expect_eq(c.hits, 1 + 70, "note_big(7) counted 1, then the stop's call 70");
    cr_expect_eq(c.last_index, 0, "nothing after `stop f();` ran");
    c.total = c.hits = 0;
    ev.n = 200;
    cr_expect_eq(mtpg_constructs_program.dispatch(&x, MTPG_CONSTRUCTS_EV_TICK, &ev, &c, NULL, 0), 2);
    cr_expect_eq(c.last_index, 200);
    cr_expect_eq(c.total, 62 + 1, "`total += 1` in the group");
    cr_expect_eq(c.hits, 1000 + 63 + 5, "`return count(c, 1000)` returned before count(c, 1); "
                 "`hits += c.total` read the total the group had just set");
}
