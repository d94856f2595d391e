/*
 * test_tcp_hostile.c — tcp.mtp's defences, one event in, instructions and context out:
 * SYN cookies (RFC 4987 3.6, encoded as Linux does), early eviction of half-open
 * connections, the accept queue bound, TS.Recent kept only from segments that passed every
 * check (RFC 7323 4.3, RFC 5961), challenge-ACK rate limits (RFC 5961 7).
 */
#include "tcp_fixture.h"

static void setup(void) { fx_init(100 * MS); }

static struct mtpg_tcp_syn peer_syn(uint16_t rport)
{
    struct mtpg_tcp_syn syn = {.local_ip = LOCAL_IP, .remote_ip = REMOTE_IP,
                               .local_port = LOCAL_PORT, .remote_port = rport, .seq = IRS,
                               .window = 65535};
    syn.o.mss = 1460;
    syn.o.has_ws = true;
    syn.o.ws = 9;
    syn.o.sack_ok = true;
    syn.o.has_ts = true;
    syn.o.tsval = 555;
    return syn;
}

/* A listener whose queue holds `n` half-open connections out of a backlog of `n`. */
static void full_listener(uint32_t n)
{
    F.l.backlog = n;
    F.l.local_port = LOCAL_PORT;
    for (uint32_t i = 0; i < n; i++) {
        struct mtpg_tcp_syn s = peer_syn((uint16_t)(1000 + i));
        s.remote_ip = REMOTE_IP + 1000;
        fx_run(MTPG_TCP_EV_SYN, &s, &F.l);
    }
    cr_assert_eq(F.l.pending.len, n);
    fx_reset_out();
}

/* The cookie SYN-ACK for `syn` (the listener is full). */
static seg_bp cookie_synack(const struct mtpg_tcp_syn *syn)
{
    fx_reset_out();
    fx_run(MTPG_TCP_EV_SYN, syn, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 0, "a cookie keeps nothing");
    cr_assert_eq(fx_count(MTP_OP_TIMER_START), 0);
    seg_bp b = *fx_pkt(0);
    cr_assert(b.syn && b.ack_flag);
    cr_assert_eq(b.ack, syn->seq + 1);
    fx_reset_out();
    return b;
}

/* The peer's answer to a SYN-ACK: ACK of its SYN, echoing its timestamp. */
static struct mtpg_tcp_seg third_ack(const struct mtpg_tcp_syn *syn, const seg_bp *sa)
{
    struct mtpg_tcp_seg s = fx_seg(syn->seq + 1, sa->seq + 1, 0);
    s.remote_port = syn->remote_port;
    s.window = 1000;
    s.o.has_ts = fx_opt(sa, 8) != NULL;
    s.o.tsval = 600;
    s.o.tsecr = s.o.has_ts ? fx_opt(sa, 8)->u.opt_ts.tsval : 0;
    return s;
}

static const struct mtpg_tcp_conn *new_conn(void)
{
    const struct mtp_instr *nc = fx_nth(MTP_OP_NEW_CTX, 0);
    cr_assert(nc, "a connection was made");
    cr_assert_eq(nc->ctx_type, MTPG_TCP_CTX_CONN);
    return (const void *)(F.arena + nc->arena_off);
}

/* ------------------------------------------------------------------ SYN options */

TestSuite(options, .init = setup);

/* found by the analysis harness: MSS 0 made c.mss 0, MSS 8 with timestamps wrapped it */
Test(options, a_tiny_peer_mss_is_raised_to_linuxs_minimum)
{
    F.l.backlog = 4;
    F.l.local_port = LOCAL_PORT;
    const uint16_t sent[] = {0, 8, 1};
    const bool ts[] = {false, true, false};
    const uint32_t want[] = {88, 88 - 12, 88};
    for (int i = 0; i < 3; i++) {
        struct mtpg_tcp_syn syn = peer_syn((uint16_t)(REMOTE_PORT + i));
        syn.o.mss = sent[i];
        syn.o.has_ts = ts[i];
        fx_reset_out();
        fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
        cr_assert_eq(new_conn()->mss, want[i], "peer MSS %u", sent[i]);
    }
}

/* ------------------------------------------------------------------ SYN cookies */

TestSuite(cookie, .init = setup);

Test(cookie, full_queue_answers_with_a_cookie_that_brings_the_options_back)
{
    full_listener(4);
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    seg_bp sa = cookie_synack(&syn);
    cr_assert_eq(fx_opt(&sa, 2)->u.opt_mss.value, 1460, "we advertise our MSS");
    cr_assert(fx_opt(&sa, 4), "SACK permitted");
    cr_assert_eq(fx_opt(&sa, 3)->u.opt_ws.shift, 7);
    uint32_t tsval = fx_opt(&sa, 8)->u.opt_ts.tsval;
    cr_assert_eq(fx_opt(&sa, 8)->u.opt_ts.tsecr, 555u);
    cr_assert_eq(tsval & 0xf, 9u, "the peer's window shift in the low bits");
    cr_assert_eq(tsval & 0x10, 0x10u, "SACK in bit 4");
    cr_assert(F.guard.synq_full, "the overflow is remembered");

    struct mtpg_tcp_seg ack = third_ack(&syn, &sa);
    cr_assert_eq(fx_run(MTPG_TCP_EV_SEG, &ack, NULL), 1, "the cookie ends the else chain");
    const struct mtpg_tcp_conn *c = new_conn();
    cr_assert_eq(c->state, MTPG_TCP_ESTABLISHED);
    cr_assert(c->unconfirmed, "waits for its place in the accept queue");
    cr_assert_eq(c->iss, sa.seq);
    cr_assert_eq(c->snd_una, sa.seq + 1);
    cr_assert_eq(c->snd_max, sa.seq + 1);
    cr_assert_eq(c->irs, IRS);
    cr_assert_eq(c->rcv_nxt, IRS + 1);
    cr_assert_eq(c->mss, 1460u - 12u);
    cr_assert(c->ts_ok && c->sack_ok);
    cr_assert_eq(c->snd_wscale, 9);
    cr_assert_eq(c->rcv_wscale, 7);
    cr_assert_eq(c->snd_wnd, 1000u << 9);
    cr_assert_eq(c->ts_recent, 600u);
    uint32_t now_ts = (uint32_t)(F.x.now_ns / MS) + c->ts_offset;
    cr_assert(tsval <= now_ts && now_ts - tsval < 64, "the SYN-ACK's timestamp is the clock's");
    uint64_t port = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_ACCEPT_READY, &port));
    cr_assert_eq(port, LOCAL_PORT);
    cr_assert_eq(fx_count(MTP_OP_NEW_RX_DATA), 1, "its streams open in the same chain");
    cr_assert_eq(fx_count(MTP_OP_NEW_TX_DATA), 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "no RST");
}

Test(cookie, mss_is_encoded_in_the_cookie_from_linuxs_table)
{
    full_listener(1);
    static const uint16_t sent[] = {1460, 1500, 1452, 1440, 1400, 1300, 1299, 536, 100};
    static const uint32_t want[] = {1460, 1460, 1440, 1440, 1300, 1300, 536, 536, 536};
    for (unsigned i = 0; i < sizeof sent / sizeof sent[0]; i++) {
        struct mtpg_tcp_syn syn = peer_syn((uint16_t)(REMOTE_PORT + i));
        syn.o.mss = sent[i];
        syn.o.has_ts = false; /* no options but the MSS survive */
        seg_bp sa = cookie_synack(&syn);
        cr_assert_null(fx_opt(&sa, 8));
        cr_assert_null(fx_opt(&sa, 3), "no window scaling without timestamps");
        cr_assert_null(fx_opt(&sa, 4), "no SACK without timestamps");
        struct mtpg_tcp_seg ack = third_ack(&syn, &sa);
        fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
        const struct mtpg_tcp_conn *c = new_conn();
        cr_assert_eq(c->mss, want[i], "MSS %u", sent[i]);
        cr_assert(!c->ts_ok && !c->sack_ok);
        cr_assert_eq(c->snd_wscale, 0);
        cr_assert_eq(c->rcv_wscale, 0);
    }
}

Test(cookie, no_window_scale_is_0xf)
{
    full_listener(1);
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    syn.o.has_ws = false;
    syn.o.sack_ok = false;
    seg_bp sa = cookie_synack(&syn);
    cr_assert_eq(fx_opt(&sa, 8)->u.opt_ts.tsval & 0x1f, 0xfu);
    cr_assert_null(fx_opt(&sa, 3));
    struct mtpg_tcp_seg ack = third_ack(&syn, &sa);
    fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
    const struct mtpg_tcp_conn *c = new_conn();
    cr_assert(c->ts_ok && !c->sack_ok);
    cr_assert_eq(c->rcv_wscale, 0);
    cr_assert_eq(c->snd_wnd, 1000u);
}

Test(cookie, wrong_ack_wrong_seq_other_tuple_get_a_reset)
{
    full_listener(1);
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    seg_bp sa = cookie_synack(&syn);
    struct mtpg_tcp_seg bad[4];
    for (int i = 0; i < 4; i++)
        bad[i] = third_ack(&syn, &sa);
    bad[0].ack += 1;
    bad[1].seq += 1448; /* a later segment (within 3 of the ISN: a smaller MSS index, as Linux) */
    bad[2].remote_port += 1;
    bad[3].remote_ip += 1;
    for (int i = 0; i < 4; i++) {
        fx_reset_out();
        cr_assert_eq(fx_run(MTPG_TCP_EV_SEG, &bad[i], NULL), 2, "case %d", i);
        cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 0, "case %d", i);
        cr_assert(fx_pkt(0)->rst, "case %d", i);
    }
}

Test(cookie, a_cookie_lives_two_minutes_at_most)
{
    full_listener(1);
    F.x.now_ns = 60ull * 1000 * MS * 10 + 59ull * 1000 * MS; /* late in a minute */
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    seg_bp sa = cookie_synack(&syn);
    struct mtpg_tcp_seg ack = third_ack(&syn, &sa);
    F.x.now_ns += 2 * 1000 * MS; /* the next minute: still good */
    fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 1);
    fx_reset_out();
    F.x.now_ns += 60ull * 1000 * MS; /* two periods later */
    fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 0);
    cr_assert(fx_pkt(0)->rst);
}

Test(cookie, acks_are_not_looked_at_without_a_recent_overflow)
{
    full_listener(1);
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    seg_bp sa = cookie_synack(&syn);
    struct mtpg_tcp_seg ack = third_ack(&syn, &sa);
    F.guard.synq_full = false;
    fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 0);
    cr_assert(fx_pkt(0)->rst);
}

Test(cookie, syn_or_rst_never_completes_a_cookie)
{
    full_listener(1);
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    seg_bp sa = cookie_synack(&syn);
    struct mtpg_tcp_seg ack = third_ack(&syn, &sa);
    ack.f_rst = true;
    fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
    ack.f_rst = false;
    ack.f_syn = true;
    fx_run(MTPG_TCP_EV_SEG, &ack, NULL);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 0);
}

Test(cookie, unconfirmed_connection_takes_no_segment_until_the_shim_confirms)
{
    fx_established();
    F.c.unconfirmed = true;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&s);
    cr_assert_eq(F.out.n, 0u, "ignored: the peer sends it again");
    struct mtpg_tcp_app_confirm ok = {0};
    fx_run(MTPG_TCP_EV_APP_CONFIRM, &ok, &F.c);
    cr_assert(!F.c.unconfirmed);
    fx_reset_out();
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 1);
}

/* A cookie connection refused for a full accept queue, in the fixture's connection. */
static void dropped_cookie_connection(void)
{
    fx_established();
    F.c.unconfirmed = true;
    struct mtpg_tcp_app_drop d = {0};
    fx_run(MTPG_TCP_EV_APP_DROP, &d, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "no RST");
    const struct mtp_instr *t = fx_timer(MTP_OP_TIMER_START, TIMER_LINGER);
    cr_assert(t);
    cr_assert_eq(t->u.timer.dur_ns, MTPG_TCP_COOKIE_DROP_GRACE);
    fx_reset_out();
}

Test(cookie, dropped_connection_whose_peer_sends_goes_quietly_after_a_grace)
{
    dropped_cookie_connection();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 0, "ignored: the peer sends it again");
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_LINGER), "the grace starts again");
    fx_reset_out();
    struct mtpg_tcp_linger_expired e = {0};
    fx_run(MTPG_TCP_EV_LINGER_EXPIRED, &e, &F.c);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "its retransmission is a cookie ACK again");
    /* a confirmed connection ignores app_drop */
    fx_reset_out();
    F.c.unconfirmed = false;
    struct mtpg_tcp_app_drop d = {0};
    fx_run(MTPG_TCP_EV_APP_DROP, &d, &F.c);
    cr_assert_eq(F.out.n, 0u);
}

/* found by bench_idle_conns: a client that waits for the server to speak, dropped quietly,
 * was never accepted and never told */
Test(cookie, dropped_connection_whose_peer_is_silent_is_asked_again)
{
    dropped_cookie_connection();
    struct mtpg_tcp_seg ack = fx_seg(IRS + 1, ISS + 1, 0);    /* a pure ACK sends nothing */
    fx_seg_in(&ack);
    fx_reset_out();
    struct mtpg_tcp_linger_expired e = {0};
    fx_run(MTPG_TCP_EV_LINGER_EXPIRED, &e, &F.c);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1, "a probe");
    const seg_bp *p = fx_pkt(0);
    cr_assert(p->ack_flag && !p->syn && !p->rst && !p->fin);
    cr_assert_eq(p->seq, ISS, "below the peer's window: it answers with an ACK");
    cr_assert_eq(p->ack, IRS + 1);
}

/* ------------------------------------------------------------------ listen queue */

TestSuite(listen_queue, .init = setup);

Test(listen_queue, full_accept_queue_drops_syns)
{
    F.l.backlog = 2;
    struct mtpg_tcp_syn a = peer_syn(1), b = peer_syn(2), c = peer_syn(3);
    fx_run(MTPG_TCP_EV_SYN, &a, &F.l);
    fx_run(MTPG_TCP_EV_SYN, &b, &F.l);
    struct mtpg_tcp_app_queued qa = {REMOTE_IP, 1}, qb = {REMOTE_IP, 2};
    fx_run(MTPG_TCP_EV_APP_QUEUED, &qa, &F.l);
    fx_run(MTPG_TCP_EV_APP_QUEUED, &qb, &F.l);
    cr_assert(F.l.pending.v[0].ready && F.l.pending.v[1].ready);
    fx_reset_out();
    fx_run(MTPG_TCP_EV_SYN, &c, &F.l);
    cr_assert_eq(F.out.n, 0u, "no SYN-ACK, no cookie: the accept queue is full");
    struct mtpg_tcp_app_accepted gone = {REMOTE_IP, 1};
    fx_run(MTPG_TCP_EV_APP_ACCEPTED, &gone, &F.l);
    fx_run(MTPG_TCP_EV_SYN, &c, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 1);
}

Test(listen_queue, cookie_connection_is_counted_once_queued)
{
    F.l.backlog = 2;
    struct mtpg_tcp_app_queued q = {REMOTE_IP, 7};
    fx_run(MTPG_TCP_EV_APP_QUEUED, &q, &F.l);
    cr_assert_eq(F.l.pending.len, 1u);
    cr_assert(F.l.pending.v[0].ready);
    fx_run(MTPG_TCP_EV_APP_QUEUED, &q, &F.l);
    cr_assert_eq(F.l.pending.len, 1u, "once");
}

Test(listen_queue, half_open_connections_give_up_early_while_queues_overflow)
{
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    F.l.backlog = 16;
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    const struct mtpg_tcp_conn half_open = *new_conn();
    F.c = half_open;
    struct mtpg_tcp_rto_expired t = {0};
    /* a quiet listener: every retransmission */
    for (uint32_t i = 0; i < mtpg_tcp_param_SYN_RETRIES; i++) {
        fx_reset_out();
        fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
        cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0, "retransmission %u", i);
    }
    /* queues more than half full: SYNACK_RETRIES_BUSY */
    F.c = half_open;
    full_listener(16);
    cr_assert(F.guard.synq_busy);
    for (uint32_t i = 0; i < mtpg_tcp_param_SYNACK_RETRIES_BUSY; i++) {
        fx_reset_out();
        fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
        cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
        cr_assert(fx_pkt(0)->syn);
    }
    fx_reset_out();
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1, "evicted");
    /* an active open keeps all its retries */
    F.c = half_open;
    F.c.state = MTPG_TCP_SYN_SENT;
    F.c.active_open = true;
    F.c.retries = mtpg_tcp_param_SYNACK_RETRIES_BUSY;
    fx_reset_out();
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
}

/* ------------------------------------------------------------------ processing order */

TestSuite(order, .init = setup);

/* The attack: seq = RCV.NXT, an ACK of data never sent, a timestamp 2^30 ahead. */
Test(order, refused_segment_does_not_poison_ts_recent)
{
    fx_established();
    struct mtpg_tcp_seg evil = fx_seg(IRS + 1, ISS + 1 + 5000, 0);
    evil.o.tsval = 777u + (1u << 30);
    fx_seg_in(&evil);
    cr_assert_eq(F.c.ts_recent, 777u, "TS.Recent untouched");
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1, "a challenge ACK");
    /* the real peer's next segment is not taken for an old duplicate */
    fx_reset_out();
    F.x.now_ns += 600 * MS;
    struct mtpg_tcp_seg real = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&real);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 1);
    cr_assert_eq(F.c.ts_recent, 800u);
}

Test(order, no_check_that_fails_keeps_anything)
{
    struct {
        const char *what;
        uint32_t seq, ack;
        bool rst, syn, no_ack;
    } cases[] = {
        {"RST in window", IRS + 10, ISS + 1, true, false, false},
        {"SYN in window", IRS + 1, ISS + 1, false, true, false},
        {"no ACK flag", IRS + 1, ISS + 1, false, false, true},
        {"ACK too old", IRS + 1, ISS + 1 - 3000000, false, false, false},
        {"out of window", IRS + 1 + 5000000, ISS + 1, false, false, false},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_init(100 * MS);
        fx_established();
        F.c.last_rcv = 1;
        F.c.ka_sent = 3;
        struct mtpg_tcp_seg s = fx_seg(cases[i].seq, cases[i].ack, 0);
        s.f_rst = cases[i].rst;
        s.f_syn = cases[i].syn;
        s.f_ack = !cases[i].no_ack;
        s.o.tsval = 5000;
        fx_seg_in(&s);
        cr_assert_eq(F.c.ts_recent, 777u, "%s: TS.Recent", cases[i].what);
        cr_assert_eq(F.c.last_rcv, 1u, "%s: keepalive clock", cases[i].what);
        cr_assert_eq(F.c.ka_sent, 3u, "%s: keepalive probes", cases[i].what);
        cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED, "%s", cases[i].what);
    }
    /* a good one keeps both */
    fx_init(100 * MS);
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.o.tsval = 5000;
    fx_seg_in(&s);
    cr_assert_eq(F.c.ts_recent, 5000u);
    cr_assert_eq(F.c.last_rcv, F.x.now_ns);
}

/* ------------------------------------------------------------------ rate limits */

TestSuite(ratelimit, .init = setup);

static int acks_for(struct mtpg_tcp_seg *s, int n, uint64_t step_ns)
{
    int acks = 0;
    for (int i = 0; i < n; i++) {
        fx_reset_out();
        fx_seg_in(s);
        acks += fx_count(MTP_OP_PKT_GEN);
        F.x.now_ns += step_ns;
    }
    return acks;
}

Test(ratelimit, challenge_acks_once_per_half_second_per_connection)
{
    fx_established();
    struct mtpg_tcp_seg rst = fx_seg(IRS + 100, ISS + 1, 0);
    rst.f_rst = true;
    cr_assert_eq(acks_for(&rst, 100, 1 * MS), 1, "100 RSTs in 100 ms: one challenge ACK");
    F.x.now_ns += 500 * MS;
    cr_assert_eq(acks_for(&rst, 1, 0), 1, "half a second later: another");
    struct mtpg_tcp_seg syn = fx_seg(IRS + 1, ISS + 1, 0);
    syn.f_syn = true;
    cr_assert_eq(acks_for(&syn, 100, 1 * MS), 0, "SYNs share the connection's limit");
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
}

Test(ratelimit, out_of_window_and_paws_acks_are_limited_but_not_for_data)
{
    fx_established();
    struct mtpg_tcp_seg old = fx_seg(IRS + 1, ISS + 1, 0);
    old.o.tsval = 700; /* PAWS */
    cr_assert_eq(acks_for(&old, 50, 1 * MS), 1);
    struct mtpg_tcp_seg far = fx_seg(IRS + 1 + 5000000, ISS + 1, 0);
    cr_assert_eq(acks_for(&far, 50, 1 * MS), 0, "same limit");
    struct mtpg_tcp_seg dup = fx_seg(IRS + 1 - 1000, ISS + 1, 100);
    cr_assert_eq(acks_for(&dup, 20, 1 * MS), 20, "old data always draws its ACK (no ACK loop)");
}

Test(ratelimit, challenge_acks_have_a_stack_wide_budget_per_second)
{
    fx_established();
    struct mtpg_tcp_seg rst = fx_seg(IRS + 100, ISS + 1, 0);
    rst.f_rst = true;
    int acks = 0;
    /* 3000 connections (the per-connection limit never bites) hit in the same second */
    for (int i = 0; i < 3000; i++) {
        F.c.oow_acked = false;
        acks += acks_for(&rst, 1, 0);
    }
    uint32_t limit = mtpg_tcp_param_CHALLENGE_ACK_LIMIT;
    cr_assert_geq(acks, (int)(limit / 2), "%d", acks);
    cr_assert_lt(acks, (int)(limit + limit / 2), "%d", acks);
    F.x.now_ns += 1000 * MS; /* a new second, a new budget */
    F.c.oow_acked = false;
    cr_assert_eq(acks_for(&rst, 1, 0), 1);
}

Test(ratelimit, syn_storm_on_a_half_open_connection_draws_few_syn_acks)
{
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    F.l.backlog = 4;
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    F.c = *new_conn();
    struct mtpg_tcp_seg again = fx_seg(IRS, 0, 0);
    again.f_ack = false;
    again.f_syn = true;
    cr_assert_eq(acks_for(&again, 100, 1 * MS), 1);
}

/* A storm on one connection spends at most two challenge ACKs a second of the stack's
 * budget: another connection still gets its own. */
Test(ratelimit, a_storm_on_one_connection_costs_others_nothing)
{
    fx_established();
    struct mtpg_tcp_conn victim = F.c, other = F.c;
    other.remote_port = REMOTE_PORT + 1;
    struct mtpg_tcp_seg rst = fx_seg(IRS + 100, ISS + 1, 0);
    rst.f_rst = true;
    int storm = 0;
    for (int i = 0; i < 100000; i++) { /* 100,000 RSTs in one second */
        fx_reset_out();
        fx_seg_in(&rst);
        storm += fx_count(MTP_OP_PKT_GEN);
        F.x.now_ns += 10000;
    }
    cr_assert_leq(storm, 2);
    victim = F.c;
    F.c = other;
    F.x.now_ns -= 1; /* still the same second */
    struct mtpg_tcp_seg syn = fx_seg(IRS + 1, ISS + 1, 0);
    syn.f_syn = true;
    fx_reset_out();
    fx_seg_in(&syn);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1, "the other connection's challenge ACK");
    cr_assert_eq(victim.state, MTPG_TCP_ESTABLISHED);
}

/* RFC 6191: with timestamps, only a SYN newer than TS.Recent ends TIME_WAIT; a blind SYN
 * with a high sequence number and an old timestamp gets a challenge ACK instead. */
Test(order, time_wait_is_reopened_only_by_a_newer_timestamp)
{
    fx_established();
    F.c.state = MTPG_TCP_TIME_WAIT;
    struct mtpg_tcp_seg s = fx_seg(IRS + 100000, 0, 0);
    s.f_ack = false;
    s.f_syn = true;
    s.o.tsval = 700; /* TS.Recent is 777 */
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
    cr_assert_eq(F.c.state, MTPG_TCP_TIME_WAIT);
    fx_reset_out();
    s.seq = IRS - 100000; /* a lower sequence number, a newer timestamp */
    s.o.tsval = 900;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1, "a new incarnation");
    /* without timestamps the sequence number decides */
    fx_init(100 * MS);
    fx_established();
    F.c.state = MTPG_TCP_TIME_WAIT;
    F.c.ts_ok = false;
    s.o.has_ts = false;
    s.seq = IRS - 5;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
    s.seq = IRS + 100;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}
