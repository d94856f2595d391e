/*
 * test_tcp_states.c — tcp.mtp's state machine, one group per RFC 9293 state: one event in,
 * instructions and context out.
 */
#include "tcp_fixture.h"

static void setup(void) { fx_init(100 * MS); }

/* ------------------------------------------------------------------ CLOSED */

TestSuite(closed, .init = setup);

Test(closed, connect_sends_syn_with_every_option)
{
    struct mtpg_tcp_app_connect ev = {LOCAL_IP, REMOTE_IP, 33000, 80};
    cr_assert_eq(fx_run(MTPG_TCP_EV_APP_CONNECT, &ev, NULL), 1); /* else chain */
    const struct mtp_instr *nc = fx_nth(MTP_OP_NEW_CTX, 0);
    cr_assert(nc);
    cr_assert_eq(nc->ctx_type, MTPG_TCP_CTX_CONN);
    const struct mtpg_tcp_conn *c = (const void *)(F.arena + nc->arena_off);
    cr_assert_eq(c->state, MTPG_TCP_SYN_SENT);
    cr_assert_eq(c->snd_nxt, c->iss + 1);
    struct mtp_key k;
    struct mtpg_tcp_conn_id id = {LOCAL_IP, REMOTE_IP, 33000, 80};
    mtpg_tcp_key_conn_id(&k, &id);
    cr_assert(memcmp(&nc->key, &k, sizeof k) == 0);

    const struct mtp_instr *t = fx_timer(MTP_OP_TIMER_START, TIMER_RTO);
    cr_assert(t, "the SYN is timed");
    cr_assert(t->flags & MTP_IF_EXPLICIT, "the timer of the new context");
    cr_assert_eq(t->u.timer.dur_ns, mtpg_tcp_param_INIT_RTO);

    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->syn, 1);
    cr_assert_eq(b->ack_flag, 0);
    cr_assert_eq(b->seq, c->iss);
    cr_assert_eq(b->src_port, 33000);
    cr_assert_eq(b->dst_port, 80);
    cr_assert_eq(fx_nth(MTP_OP_PKT_GEN, 0)->u.gen.dst_ip, REMOTE_IP);
    cr_assert_eq(fx_opt(b, 2)->u.opt_mss.value, 1460);
    cr_assert(fx_opt(b, 4), "SACK permitted");
    cr_assert(fx_opt(b, 8), "timestamps");
    cr_assert_eq(fx_opt(b, 3)->u.opt_ws.shift, 7);
}

Test(closed, isn_follows_rfc6528)
{
    struct mtpg_tcp_app_connect ev = {LOCAL_IP, REMOTE_IP, 33000, 80};
    fx_run(MTPG_TCP_EV_APP_CONNECT, &ev, NULL);
    uint32_t a = ((const struct mtpg_tcp_conn *)(F.arena + fx_nth(MTP_OP_NEW_CTX, 0)->arena_off))->iss;
    fx_reset_out();
    F.x.now_ns += 4000 * 1000; /* 4 ms later: the clock part moves by 1000 */
    fx_run(MTPG_TCP_EV_APP_CONNECT, &ev, NULL);
    uint32_t b = ((const struct mtpg_tcp_conn *)(F.arena + fx_nth(MTP_OP_NEW_CTX, 0)->arena_off))->iss;
    cr_assert_eq(b - a, 1000u);
    fx_reset_out();
    struct mtpg_tcp_app_connect other = {LOCAL_IP, REMOTE_IP, 33001, 80};
    fx_run(MTPG_TCP_EV_APP_CONNECT, &other, NULL);
    uint32_t d = ((const struct mtpg_tcp_conn *)(F.arena + fx_nth(MTP_OP_NEW_CTX, 0)->arena_off))->iss;
    cr_assert_neq(d - b, 0u, "the keyed hash separates 4-tuples");
}

Test(closed, segment_without_connection_gets_rst)
{
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, 4242, 10);
    cr_assert_eq(fx_run(MTPG_TCP_EV_SEG, &s, NULL), 2, "else chain: not a cookie, a RST");
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->rst, 1);
    cr_assert_eq(b->seq, 4242u, "RST takes its sequence number from the ACK");
    cr_assert_eq(b->ack_flag, 0);
    cr_assert_eq(b->dst_port, REMOTE_PORT);

    fx_reset_out();
    s.f_ack = false;
    fx_run(MTPG_TCP_EV_SEG, &s, NULL);
    b = fx_pkt(0);
    cr_assert_eq(b->rst, 1);
    cr_assert_eq(b->ack_flag, 1);
    cr_assert_eq(b->seq, 0u);
    cr_assert_eq(b->ack, IRS + 1 + 10);
}

Test(closed, rst_without_connection_is_ignored)
{
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, 4242, 0);
    s.f_rst = true;
    fx_run(MTPG_TCP_EV_SEG, &s, NULL);
    cr_assert_eq(F.out.n, 0u);
}

Test(closed, syn_without_listener_gets_rst_ack)
{
    struct mtpg_tcp_syn syn = {.local_ip = LOCAL_IP, .remote_ip = REMOTE_IP, .local_port = 81,
                               .remote_port = REMOTE_PORT, .seq = IRS};
    cr_assert_eq(fx_run(MTPG_TCP_EV_SYN, &syn, NULL), 1);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->rst, 1);
    cr_assert_eq(b->ack_flag, 1);
    cr_assert_eq(b->ack, IRS + 1);
    cr_assert_eq(b->src_port, 81);
}

/* ------------------------------------------------------------------ LISTEN */

TestSuite(listen, .init = setup);

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

Test(listen, listen_creates_the_listener)
{
    struct mtpg_tcp_app_listen ev = {LOCAL_IP, LOCAL_PORT, 1000};
    fx_run(MTPG_TCP_EV_APP_LISTEN, &ev, NULL);
    const struct mtp_instr *nc = fx_nth(MTP_OP_NEW_CTX, 0);
    cr_assert_eq(nc->ctx_type, MTPG_TCP_CTX_LISTENER);
    const struct mtpg_tcp_listener *l = (const void *)(F.arena + nc->arena_off);
    cr_assert_eq(l->backlog, 1000u, "the application's backlog is honoured");
    fx_reset_out();
    fx_run(MTPG_TCP_EV_APP_LISTEN, &ev, &F.l);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_IN_USE, NULL));
}

/* The listener's backlog for a listen() backlog and a MAX_BACKLOG param. */
static uint32_t backlog_for(uint32_t asked, uint32_t max_backlog)
{
    uint32_t saved = mtpg_tcp_param_MAX_BACKLOG;
    mtpg_tcp_param_MAX_BACKLOG = max_backlog;
    fx_reset_out();
    struct mtpg_tcp_app_listen ev = {LOCAL_IP, LOCAL_PORT, asked};
    fx_run(MTPG_TCP_EV_APP_LISTEN, &ev, NULL);
    mtpg_tcp_param_MAX_BACKLOG = saved;
    const struct mtp_instr *nc = fx_nth(MTP_OP_NEW_CTX, 0);
    cr_assert(nc, "a listener for backlog %u", asked);
    return ((const struct mtpg_tcp_listener *)(F.arena + nc->arena_off))->backlog;
}

/* nginx and redis ask for 511: a queue of 256 turned a burst into SYN cookies */
Test(listen, backlog_is_cut_to_max_backlog_and_the_queue_room)
{
    cr_assert_eq(mtpg_tcp_param_MAX_BACKLOG, 4096u, "Linux's somaxconn");
    cr_assert_eq(backlog_for(511, 4096), 511u);
    cr_assert_eq(backlog_for(4096, 4096), 4096u);
    cr_assert_eq(backlog_for(65535, 4096), 4096u);
    cr_assert_eq(backlog_for(1000, 128), 128u, "the param cuts it");
    cr_assert_eq(backlog_for(100000, 100000), MTPG_TCP_LISTEN_QUEUE_LEN, "and the queue's room");
    cr_assert_eq(backlog_for(0, 4096), 1u);
}

/* A peer's SYN to the listener; F.c becomes the connection it made (SYN_RCVD, SYN-ACK sent),
 * and the peer's final ACK, carrying `len` bytes of request, arrives. */
static void passive_open(uint32_t len)
{
    F.l.backlog = 4;
    F.l.local_port = LOCAL_PORT;
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    const struct mtp_instr *nc = fx_nth(MTP_OP_NEW_CTX, 0);
    cr_assert(nc);
    memcpy(&F.c, F.arena + nc->arena_off, sizeof F.c);
    cr_assert_eq(F.c.last_ack_sent, IRS + 1, "the SYN-ACK carried ack = IRS + 1");
    cr_assert_eq(F.c.rcv_adv, IRS + 1 + 65535, "the SYN-ACK advertised 64 KB");
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, F.c.iss + 1, len);
    s.window = 502;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
}

/* The handshake's last ACK draws nothing: the SYN-ACK acknowledged the SYN already (a pure
 * ACK here was one wasted frame per accepted connection, because the SYN-ACK did not count as
 * the last ACK sent and the delayed-ACK rule saw a whole window unacknowledged). */
Test(listen, the_final_ack_of_a_passive_open_draws_no_answer)
{
    passive_open(0);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "no pure ACK for the handshake's ACK");
}

/* ... nor does the first small read (a request): the SYN-ACK's 64 KB window is far from
 * closed, so no window update goes before the answer (one frame per connection saved). */
Test(listen, the_first_read_after_a_passive_open_sends_no_window_update)
{
    passive_open(100);
    cr_assert_eq(F.c.rcv_off, 100u);
    fx_reset_out();
    struct mtpg_tcp_app_recv rd = {.buf = 0x9000, .len = 4096};
    fx_run(MTPG_TCP_EV_APP_RECV, &rd, &F.c);
    cr_assert_eq(fx_count(MTP_OP_RX_FLUSH), 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "no window update for a 100-byte read");
}

Test(listen, syn_makes_a_connection_in_syn_rcvd)
{
    F.l.backlog = 4;
    F.l.local_port = LOCAL_PORT;
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    cr_assert_eq(F.l.pending.len, 1u);
    const struct mtp_instr *nc = fx_nth(MTP_OP_NEW_CTX, 0);
    cr_assert_eq(nc->ctx_type, MTPG_TCP_CTX_CONN);
    const struct mtpg_tcp_conn *c = (const void *)(F.arena + nc->arena_off);
    cr_assert_eq(c->state, MTPG_TCP_SYN_RCVD);
    cr_assert_eq(c->rcv_nxt, IRS + 1);
    cr_assert_eq(c->mss, 1460u - 12u);
    cr_assert_eq(c->snd_wscale, 9);
    cr_assert_eq(c->rcv_wscale, 7);
    cr_assert(c->sack_ok && c->ts_ok);
    cr_assert_eq(c->ts_recent, 555u);
    cr_assert_eq(c->snd_wnd, 65535u, "the window of a SYN is not scaled");

    const seg_bp *b = fx_pkt(0);
    cr_assert(b->syn && b->ack_flag);
    cr_assert_eq(b->seq, c->iss);
    cr_assert_eq(b->ack, IRS + 1);
    cr_assert_eq(fx_opt(b, 8)->u.opt_ts.tsecr, 555u);
    cr_assert(fx_opt(b, 4) && fx_opt(b, 3) && fx_opt(b, 2));
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_RTO), "the SYN-ACK is retransmitted");
}

Test(listen, syn_ack_omits_options_the_peer_lacks)
{
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    syn.o.has_ws = syn.o.sack_ok = syn.o.has_ts = false;
    F.l.backlog = 4;
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    const seg_bp *b = fx_pkt(0);
    cr_assert(fx_opt(b, 2));
    cr_assert_null(fx_opt(b, 3));
    cr_assert_null(fx_opt(b, 4));
    cr_assert_null(fx_opt(b, 8));
    const struct mtpg_tcp_conn *c = (const void *)(F.arena + fx_nth(MTP_OP_NEW_CTX, 0)->arena_off);
    cr_assert_eq(c->mss, 1460u);
    cr_assert_eq(c->rcv_wscale, 0);
}

Test(listen, retransmitted_syn_is_dropped_full_backlog_answers_with_a_cookie)
{
    F.l.backlog = 2;
    struct mtpg_tcp_syn a = peer_syn(1), b = peer_syn(2), c = peer_syn(3);
    fx_run(MTPG_TCP_EV_SYN, &a, &F.l);
    fx_run(MTPG_TCP_EV_SYN, &b, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 2);
    fx_reset_out();
    fx_run(MTPG_TCP_EV_SYN, &a, &F.l);
    cr_assert_eq(F.out.n, 0u);
    fx_run(MTPG_TCP_EV_SYN, &c, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 0);
    cr_assert(fx_pkt(0)->syn && fx_pkt(0)->ack_flag, "a SYN cookie (test_tcp_hostile.c)");
    cr_assert_eq(F.l.pending.len, 2u);
    fx_reset_out();

    struct mtpg_tcp_app_accepted gone = {REMOTE_IP, 1};
    fx_run(MTPG_TCP_EV_APP_ACCEPTED, &gone, &F.l);
    cr_assert_eq(F.l.pending.len, 1u);
    fx_run(MTPG_TCP_EV_SYN, &c, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 1);
}

/* The listener F.l, closed quietly (other processes serve the port). */
static void quiet_unlisten(void)
{
    F.l.backlog = 4;
    F.l.local_port = LOCAL_PORT;
    struct mtpg_tcp_app_unlisten quiet = {.quiet = true};
    fx_run(MTPG_TCP_EV_APP_UNLISTEN, &quiet, &F.l);
}

/* A quiet unlisten: SYNs already on their way here are dropped, not refused, for the grace;
 * then the listener goes. */
Test(listen, quiet_unlisten_drops_syns_for_its_grace_then_goes)
{
    quiet_unlisten();
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0, "the listener stays for its grace");
    const struct mtp_instr *t = fx_timer(MTP_OP_TIMER_START, MTPG_TCP_TIMER_LISTENER_GRACE_TIMER);
    cr_assert(t);
    cr_assert_eq(t->u.timer.dur_ns, mtpg_tcp_param_UNLISTEN_GRACE);
    fx_reset_out();
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    cr_assert_eq(F.out.n, 0u, "no SYN-ACK, no RST, no connection");
    cr_assert_eq(F.l.pending.len, 0u);
    struct mtpg_tcp_unlisten_expired grace = {0};
    fx_run(MTPG_TCP_EV_UNLISTEN_EXPIRED, &grace, &F.l);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

Test(listen, plain_unlisten_goes_at_once)
{
    struct mtpg_tcp_app_unlisten plain = {.quiet = false};
    fx_run(MTPG_TCP_EV_APP_UNLISTEN, &plain, &F.l);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

/* The application listens again during the grace: the listener serves again. */
Test(listen, listen_during_the_grace_serves_again)
{
    quiet_unlisten();
    fx_reset_out();
    struct mtpg_tcp_app_listen ev = {LOCAL_IP, LOCAL_PORT, 64};
    fx_run(MTPG_TCP_EV_APP_LISTEN, &ev, &F.l);
    cr_assert(!fx_has_note(MTPG_TCP_NOTE_IN_USE, NULL));
    cr_assert(fx_timer(MTP_OP_TIMER_STOP, MTPG_TCP_TIMER_LISTENER_GRACE_TIMER));
    cr_assert(!F.l.closing);
    cr_assert_eq(F.l.backlog, 64u);
    fx_reset_out();
    struct mtpg_tcp_syn syn = peer_syn(REMOTE_PORT);
    fx_run(MTPG_TCP_EV_SYN, &syn, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 1, "a SYN makes a connection again");
}

/* ------------------------------------------------------------------ SYN_SENT */

TestSuite(syn_sent, .init = setup);

static void to_syn_sent(void)
{
    fx_established();
    F.c.state = MTPG_TCP_SYN_SENT;
    F.c.active_open = true;
    F.c.snd_una = ISS;
    F.c.snd_nxt = F.c.snd_max = ISS + 1;
    F.c.rcv_nxt = 0;
    F.c.ts_ok = F.c.sack_ok = false;
    F.c.snd_wscale = F.c.rcv_wscale = 0;
    F.c.rto_running = true;
    F.c.rtt_start = F.x.now_ns - 2 * MS;
}

static struct mtpg_tcp_seg syn_ack(void)
{
    struct mtpg_tcp_seg s = fx_seg(IRS, ISS + 1, 0);
    s.f_syn = true;
    s.window = 29200;
    s.o.mss = 1460;
    s.o.has_ws = true;
    s.o.ws = 7;
    s.o.sack_ok = true;
    s.o.tsecr = 5;
    return s;
}

Test(syn_sent, syn_ack_establishes)
{
    to_syn_sent();
    struct mtpg_tcp_seg s = syn_ack();
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert_eq(F.c.rcv_nxt, IRS + 1);
    cr_assert_eq(F.c.snd_una, ISS + 1);
    cr_assert_eq(F.c.mss, 1448u);
    cr_assert_eq(F.c.snd_wnd, 29200u);
    cr_assert_eq(F.c.cwnd, 10 * 1448u);
    cr_assert(F.c.has_rtt);
    cr_assert_eq(F.c.srtt, 2 * MS);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CONNECTED, NULL));
    cr_assert_eq(fx_count(MTP_OP_NEW_RX_DATA), 1);
    cr_assert_eq(fx_count(MTP_OP_NEW_TX_DATA), 1);
    cr_assert(fx_timer(MTP_OP_TIMER_STOP, TIMER_RTO));
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->ack_flag && !b->syn);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(b->ack, IRS + 1);
    cr_assert_eq(fx_opt(b, 8)->u.opt_ts.tsecr, 800u);
}

Test(syn_sent, unacceptable_ack_gets_rst)
{
    to_syn_sent();
    struct mtpg_tcp_seg s = syn_ack();
    s.ack = ISS + 77;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_SYN_SENT);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->rst);
    cr_assert_eq(b->seq, ISS + 77);
}

Test(syn_sent, rst_refuses_the_connection)
{
    to_syn_sent();
    struct mtpg_tcp_seg s = fx_seg(0, ISS + 1, 0);
    s.f_rst = true;
    fx_seg_in(&s);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why));
    cr_assert_eq(why, MTPG_TCP_RESET_REFUSED);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CLOSED, NULL));
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

Test(syn_sent, rto_resends_the_syn_then_gives_up)
{
    to_syn_sent();
    F.c.rto = 1000 * MS;
    struct mtpg_tcp_rto_expired t = {0};
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
    cr_assert(fx_pkt(0)->syn);
    cr_assert_eq(F.c.rto, 2000 * MS, "exponential backoff");
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_RTO)->u.timer.dur_ns, 2000 * MS);
    F.c.retries = mtpg_tcp_param_SYN_RETRIES;
    fx_reset_out();
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why));
    cr_assert_eq(why, MTPG_TCP_RESET_TIMEOUT);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

/* Simultaneous open (RFC 9293 3.10.7.3, figure 8): the peer's SYN crossed ours. */
static struct mtpg_tcp_seg crossing_syn(void)
{
    struct mtpg_tcp_seg s = syn_ack();
    s.f_ack = false;
    s.ack = 0;
    s.o.tsecr = 0;
    return s;
}

static void to_simultaneous_syn_rcvd(void)
{
    to_syn_sent();
    struct mtpg_tcp_seg s = crossing_syn();
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_SYN_RCVD);
    fx_reset_out();
}

Test(syn_sent, crossing_syn_moves_to_syn_rcvd_and_sends_syn_ack)
{
    to_syn_sent();
    struct mtpg_tcp_seg s = crossing_syn();
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_SYN_RCVD);
    cr_assert_eq(F.c.irs, IRS);
    cr_assert_eq(F.c.rcv_nxt, IRS + 1);
    cr_assert_eq(F.c.snd_una, ISS, "our SYN is not acknowledged yet");
    cr_assert_eq(F.c.mss, 1448u);
    cr_assert(F.c.ts_ok && F.c.sack_ok);
    cr_assert_eq(F.c.rcv_wscale, 7);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->syn && b->ack_flag && !b->rst);
    cr_assert_eq(b->seq, ISS, "our SYN again");
    cr_assert_eq(b->ack, IRS + 1);
    cr_assert_not_null(fx_opt(b, 2), "MSS");
    cr_assert_not_null(fx_opt(b, 4), "SACK permitted");
    cr_assert_eq(fx_opt(b, 8)->u.opt_ts.tsecr, 800u);
    cr_assert_eq(fx_opt(b, 3)->u.opt_ws.shift, 7);
    cr_assert_eq(fx_count(MTP_OP_TIMER_STOP), 0, "the SYN's timer now guards the SYN-ACK");
    cr_assert(!fx_has_note(MTPG_TCP_NOTE_CONNECTED, NULL));
    cr_assert_neq(F.g.conn_syn, 0u, "the listener leaves this SYN alone");
}

Test(syn_sent, crossing_syn_ack_establishes_without_a_reply)
{
    to_simultaneous_syn_rcvd();
    struct mtpg_tcp_seg s = syn_ack(); /* figure 8 line 6: SEQ=IRS, ACK=ISS+1, SYN,ACK */
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert_eq(F.c.snd_una, ISS + 1);
    cr_assert_eq(F.c.snd_wnd, 29200u, "a SYN's window is never scaled");
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CONNECTED, NULL));
    cr_assert(!fx_has_note(MTPG_TCP_NOTE_ACCEPT_READY, NULL));
    cr_assert(fx_timer(MTP_OP_TIMER_STOP, TIMER_RTO));
    cr_assert_eq(fx_count(MTP_OP_NEW_TX_DATA), 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "both sides sent their SYN-ACK already");
}

Test(syn_sent, crossing_then_plain_ack_establishes_as_connect)
{
    to_simultaneous_syn_rcvd();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0); /* the peer got our SYN-ACK first */
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CONNECTED, NULL));
    cr_assert(!fx_has_note(MTPG_TCP_NOTE_ACCEPT_READY, NULL));
}

Test(syn_sent, crossing_syn_ack_with_a_bad_ack_gets_rst)
{
    to_simultaneous_syn_rcvd();
    struct mtpg_tcp_seg s = syn_ack();
    s.ack = ISS + 50;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_SYN_RCVD);
    cr_assert(fx_pkt(0)->rst);
    cr_assert_eq(fx_pkt(0)->seq, ISS + 50);
}

Test(syn_sent, after_crossing_rto_and_repeated_syn_resend_the_syn_ack)
{
    to_simultaneous_syn_rcvd();
    struct mtpg_tcp_rto_expired t = {0};
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
    cr_assert(fx_pkt(0)->syn && fx_pkt(0)->ack_flag);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1);
    fx_reset_out();
    struct mtpg_tcp_seg s = crossing_syn();
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_SYN_RCVD);
    cr_assert(fx_pkt(0)->syn && fx_pkt(0)->ack_flag);
}

Test(syn_sent, crossing_then_rst_refuses_the_connect)
{
    to_simultaneous_syn_rcvd();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, 0, 0);
    s.f_ack = false;
    s.f_rst = true;
    fx_seg_in(&s);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why));
    cr_assert_eq(why, MTPG_TCP_RESET_REFUSED, "an active open learns 'connection refused'");
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

/* ------------------------------------------------------------------ SYN_RCVD */

TestSuite(syn_rcvd, .init = setup);

static void to_syn_rcvd(void)
{
    fx_established();
    F.c.state = MTPG_TCP_SYN_RCVD;
    F.c.snd_una = ISS;
    F.c.rtt_start = F.x.now_ns - MS;
}

Test(syn_rcvd, ack_completes_the_passive_open)
{
    to_syn_rcvd();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert_eq(F.c.snd_una, ISS + 1);
    uint64_t port = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_ACCEPT_READY, &port));
    cr_assert_eq(port, LOCAL_PORT);
    cr_assert_eq(F.c.snd_wnd, 8192u << 7);
    cr_assert_eq(fx_count(MTP_OP_NEW_RX_DATA), 1);
}

Test(syn_rcvd, data_on_the_final_ack_is_kept)
{
    to_syn_rcvd();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert_eq(F.c.rcv_nxt, IRS + 101);
    const struct mtp_instr *in = fx_nth(MTP_OP_ADD_RX_SEG, 0);
    cr_assert(in);
    cr_assert_eq(in->u.seg.off, 0u);
    cr_assert_eq(in->u.seg.len, 100u);
}

Test(syn_rcvd, bad_ack_gets_rst)
{
    to_syn_rcvd();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 500, 0);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_SYN_RCVD);
    cr_assert(fx_pkt(0)->rst);
    cr_assert_eq(fx_pkt(0)->seq, ISS + 500);
}

Test(syn_rcvd, rst_at_rcv_nxt_drops_the_half_open_connection)
{
    to_syn_rcvd();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, 0, 0);
    s.f_rst = true;
    s.f_ack = false;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CLOSED, NULL));
}

/* ------------------------------------------------------------------ ESTABLISHED */

TestSuite(established, .init = setup);

Test(established, in_order_data_is_delivered_and_ack_delayed)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, MSS);
    fx_seg_in(&s);
    const struct mtp_instr *in = fx_nth(MTP_OP_ADD_RX_SEG, 0);
    cr_assert_eq(in->u.seg.off, 0u);
    cr_assert_eq(in->u.seg.len, MSS);
    cr_assert_eq(in->u.seg.addr, 0x100000u);
    cr_assert_eq(F.c.rcv_nxt, IRS + 1 + MSS);
    cr_assert_eq(F.c.rcv_off, MSS);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "the first segment's ACK waits");
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_DELACK)->u.timer.dur_ns,
                 mtpg_tcp_param_DELACK_TIMEOUT);
    cr_assert_eq(F.c.ts_recent, 800u);
}

Test(established, data_then_app_send)
{
    fx_established();
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 3000};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    const struct mtp_instr *add = fx_nth(MTP_OP_ADD_TX_DATA, 0);
    cr_assert_eq(add->u.seg.addr, 0x5000u);
    cr_assert_eq(add->u.seg.len, 3000u);
    const struct mtp_instr *g = fx_nth(MTP_OP_PKT_GEN, 0);
    cr_assert_neq(g->u.gen.srule, MTP_NONE, "segmented by the sequence rule");
    cr_assert_eq(g->u.gen.max_seg, MSS);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(b->data.uid, 0u);
    cr_assert_eq(b->data.off, 0u);
    cr_assert_eq(b->data.len, 3000u);
    cr_assert(b->data.flags & MTP_DATA_FROM_UNIT);
    cr_assert_eq(b->ack, IRS + 1);
    cr_assert_eq(b->window, (256u * 1024u) >> 7);
    cr_assert_eq(F.c.snd_nxt, ISS + 3001);
    cr_assert_eq(F.c.app_off, 3000u);
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_RTO));
    cr_assert(F.c.rtt_timing);
}

Test(established, send_is_limited_by_the_windows)
{
    fx_established();
    F.c.cwnd = 2 * MSS;
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 10 * MSS};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_pkt(0)->data.len, 2 * MSS);
    cr_assert_eq(F.c.snd_nxt, ISS + 1 + 2 * MSS);
    fx_reset_out();
    F.c.snd_wnd = 0; /* peer window closed after this ACK */
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + 2 * MSS, 0);
    s.window = 0;
    F.sp.ack_new = false;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0);
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_PERSIST), "zero window: persist timer");
    cr_assert(F.c.persist_running);
}

Test(established, ack_retires_data_and_restarts_the_timer)
{
    fx_established();
    fx_in_flight(4 * MSS);
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + 2 * MSS, 0);
    fx_seg_in(&s);
    const struct mtp_instr *f = fx_nth(MTP_OP_TX_FLUSH, 0);
    cr_assert_eq(f->u.seg.len, 2 * MSS);
    cr_assert_eq(F.c.una_off, 2 * MSS);
    cr_assert_eq(F.c.snd_una, ISS + 1 + 2 * MSS);
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_RTO), "restarted for the rest (RFC 6298 5.3)");
    fx_reset_out();
    s.ack = ISS + 1 + 4 * MSS;
    fx_seg_in(&s);
    cr_assert(fx_timer(MTP_OP_TIMER_STOP, TIMER_RTO), "all acknowledged (RFC 6298 5.2)");
    cr_assert(!F.c.rto_running);
}

Test(established, ack_beyond_snd_max_is_answered)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 100, 0);
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_TX_FLUSH), 0);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->ack_flag && !b->rst);
    cr_assert_eq(b->ack, IRS + 1);
}

Test(established, unacceptable_segment_gets_an_ack)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1 + 400000, ISS + 1, 100);
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 0);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1);
}

Test(established, old_duplicate_is_acked_not_stored)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1 - 100, ISS + 1, 100);
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 0);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1);
}

Test(established, overlapping_segment_is_trimmed)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1 - 100, ISS + 1, 300);
    fx_seg_in(&s);
    const struct mtp_instr *in = fx_nth(MTP_OP_ADD_RX_SEG, 0);
    cr_assert_eq(in->u.seg.off, 0u);
    cr_assert_eq(in->u.seg.len, 200u);
    cr_assert_eq(in->u.seg.addr, 0x100000u + 100u);
    cr_assert_eq(F.c.rcv_nxt, IRS + 201);
}

Test(established, peer_fin_moves_to_close_wait)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 10);
    s.f_fin = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_CLOSE_WAIT);
    cr_assert_eq(F.c.rcv_nxt, IRS + 12);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_PEER_CLOSED, NULL));
    cr_assert_eq(fx_pkt(0)->ack, IRS + 12, "the FIN is acknowledged at once");
}

Test(established, out_of_order_fin_waits_for_the_data_before_it)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 101, ISS + 1, 10);
    s.f_fin = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert(!fx_has_note(MTPG_TCP_NOTE_PEER_CLOSED, NULL));
    fx_reset_out();
    struct mtpg_tcp_seg hole = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&hole);
    cr_assert_eq(F.c.state, MTPG_TCP_CLOSE_WAIT);
    cr_assert_eq(F.c.rcv_nxt, IRS + 112);
    cr_assert_eq(F.c.rcv_off, 110u);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_PEER_CLOSED, NULL));
    cr_assert_eq(fx_pkt(0)->ack, IRS + 112);
}

Test(established, close_sends_fin_after_the_data)
{
    fx_established();
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 100};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    fx_reset_out();
    struct mtpg_tcp_app_close cl = {0};
    fx_run(MTPG_TCP_EV_APP_CLOSE, &cl, &F.c);
    cr_assert_eq(F.c.state, MTPG_TCP_FIN_WAIT_1);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->fin);
    cr_assert_eq(b->seq, ISS + 101);
    cr_assert_eq(F.c.snd_nxt, ISS + 102);
    cr_assert(F.c.app_closed);
}

Test(established, close_with_unread_data_resets)
{
    fx_established();
    F.c.rcv_off = 10;
    struct mtpg_tcp_app_close cl = {0};
    fx_run(MTPG_TCP_EV_APP_CLOSE, &cl, &F.c);
    cr_assert(fx_pkt(0)->rst);
    fx_assert_reset_and_close();
}

Test(established, abort_resets)
{
    fx_established();
    fx_in_flight(100);
    struct mtpg_tcp_app_abort ab = {0};
    fx_run(MTPG_TCP_EV_APP_ABORT, &ab, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->rst);
    cr_assert_eq(b->seq, ISS + 101);
    fx_assert_reset_and_close();
}

Test(established, recv_flushes_what_is_in_order)
{
    fx_established();
    F.c.rcv_off = 5000;
    F.c.rd_off = 1000;
    struct mtpg_tcp_app_recv ev = {.buf = 0x9000, .len = 10000};
    fx_run(MTPG_TCP_EV_APP_RECV, &ev, &F.c);
    const struct mtp_instr *f = fx_nth(MTP_OP_RX_FLUSH, 0);
    cr_assert_eq(f->u.seg.len, 4000u);
    cr_assert_eq(f->u.seg.addr, 0x9000u);
    cr_assert_eq(F.c.rd_off, 5000u);
    fx_reset_out();
    fx_run(MTPG_TCP_EV_APP_RECV, &ev, &F.c);
    cr_assert_eq(fx_count(MTP_OP_RX_FLUSH), 0, "nothing more to flush");
}

Test(established, recv_opening_the_window_sends_an_update)
{
    fx_established();
    F.c.rcv_off = 256 * 1024; /* the buffer is full */
    F.c.rcv_nxt = IRS + 1 + 256 * 1024;
    F.c.rcv_adv = F.c.rcv_nxt;
    struct mtpg_tcp_app_recv ev = {.buf = 0x9000, .len = 64 * 1024};
    fx_run(MTPG_TCP_EV_APP_RECV, &ev, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->window, (64u * 1024u) >> 7);
    cr_assert_eq(F.c.rcv_adv, F.c.rcv_nxt + 64 * 1024);
}

Test(established, shutdown_half_closes)
{
    fx_established();
    struct mtpg_tcp_app_shutdown ev = {0};
    fx_run(MTPG_TCP_EV_APP_SHUTDOWN, &ev, &F.c);
    cr_assert_eq(F.c.state, MTPG_TCP_FIN_WAIT_1);
    cr_assert(fx_pkt(0)->fin);
    cr_assert(!F.c.app_closed);
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 2, 50);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_FIN_WAIT_2);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 1, "a half-closed connection still receives");
    cr_assert_null(fx_timer(MTP_OP_TIMER_START, TIMER_LINGER), "not orphaned: no FIN_WAIT_2 timer");
}

/* ------------------------------------------------------------------ FIN_WAIT_1 */

TestSuite(fin_wait_1, .init = setup);

static void to_fin_wait_1(void)
{
    fx_established();
    fx_in_flight(1);
    F.c.app_off = 0; /* the byte in flight is the FIN */
    F.c.fin_queued = F.c.fin_sent = true;
    F.c.state = MTPG_TCP_FIN_WAIT_1;
    F.c.app_closed = true;
}

Test(fin_wait_1, ack_of_fin_moves_to_fin_wait_2)
{
    to_fin_wait_1();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 2, 0);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_FIN_WAIT_2);
    cr_assert(F.c.fin_acked);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_LINGER)->u.timer.dur_ns,
                 mtpg_tcp_param_FIN_WAIT2_LEN);
}

Test(fin_wait_1, fin_and_ack_move_to_time_wait)
{
    to_fin_wait_1();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 2, 0);
    s.f_fin = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_TIME_WAIT);
    cr_assert_eq(fx_last_timer(MTP_OP_TIMER_START, TIMER_LINGER)->u.timer.dur_ns,
                 mtpg_tcp_param_TIME_WAIT_LEN);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 2);
}

Test(fin_wait_1, simultaneous_close_moves_to_closing)
{
    to_fin_wait_1();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.f_fin = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_CLOSING);
}

/* ------------------------------------------------------------------ FIN_WAIT_2, CLOSING */

TestSuite(fin_wait_2, .init = setup);

Test(fin_wait_2, fin_moves_to_time_wait)
{
    to_fin_wait_1();
    F.c.state = MTPG_TCP_FIN_WAIT_2;
    F.c.snd_una = F.c.snd_max;
    F.c.fin_acked = true;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 2, 0);
    s.f_fin = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_TIME_WAIT);
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_LINGER));
}

Test(fin_wait_2, orphan_timeout_closes)
{
    to_fin_wait_1();
    F.c.state = MTPG_TCP_FIN_WAIT_2;
    struct mtpg_tcp_linger_expired t = {0};
    fx_run(MTPG_TCP_EV_LINGER_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

TestSuite(closing, .init = setup);

Test(closing, ack_of_fin_moves_to_time_wait)
{
    to_fin_wait_1();
    F.c.state = MTPG_TCP_CLOSING;
    F.c.rcv_nxt = IRS + 2;
    struct mtpg_tcp_seg s = fx_seg(IRS + 2, ISS + 2, 0);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_TIME_WAIT);
}

/* ------------------------------------------------------------------ CLOSE_WAIT, LAST_ACK */

TestSuite(close_wait, .init = setup);

Test(close_wait, close_sends_fin_and_last_ack_closes)
{
    fx_established();
    F.c.state = MTPG_TCP_CLOSE_WAIT;
    F.c.fin_rcvd = true;
    F.c.rcv_nxt = IRS + 2;
    struct mtpg_tcp_app_close cl = {0};
    fx_run(MTPG_TCP_EV_APP_CLOSE, &cl, &F.c);
    cr_assert_eq(F.c.state, MTPG_TCP_LAST_ACK);
    cr_assert(fx_pkt(0)->fin);
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 2, ISS + 2, 0);
    fx_seg_in(&s);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CLOSED, NULL));
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

Test(close_wait, data_still_goes_out)
{
    fx_established();
    F.c.state = MTPG_TCP_CLOSE_WAIT;
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 500};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_pkt(0)->data.len, 500u);
}

/* ------------------------------------------------------------------ TIME_WAIT */

TestSuite(time_wait, .init = setup);

Test(time_wait, retransmitted_fin_is_acked_and_timeout_closes)
{
    fx_established();
    F.c.state = MTPG_TCP_TIME_WAIT;
    F.c.rcv_nxt = IRS + 2;
    F.c.fin_rcvd = true;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 2, 0);
    s.f_fin = true;
    fx_seg_in(&s);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 2);
    cr_assert_eq(F.c.state, MTPG_TCP_TIME_WAIT);
    fx_reset_out();
    struct mtpg_tcp_linger_expired t = {0};
    fx_run(MTPG_TCP_EV_LINGER_EXPIRED, &t, &F.c);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CLOSED, NULL));
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

/* ------------------------------------------------------------------ LAST_ACK */

TestSuite(last_ack, .init = setup);

static void to_last_ack(void)
{
    fx_established();
    fx_in_flight(1);
    F.c.app_off = 0; /* the byte in flight is the FIN */
    F.c.fin_queued = F.c.fin_sent = F.c.fin_rcvd = F.c.app_closed = true;
    F.c.rcv_nxt = IRS + 2;
    F.c.state = MTPG_TCP_LAST_ACK;
}

Test(last_ack, lost_fin_is_retransmitted)
{
    to_last_ack();
    struct mtpg_tcp_rto_expired t = {0};
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &t, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->fin);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(F.c.state, MTPG_TCP_LAST_ACK);
}

Test(last_ack, ack_without_the_fin_waits)
{
    to_last_ack();
    struct mtpg_tcp_seg s = fx_seg(IRS + 2, ISS + 1, 0);
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_LAST_ACK);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
}

Test(last_ack, ack_of_fin_closes)
{
    to_last_ack();
    struct mtpg_tcp_seg s = fx_seg(IRS + 2, ISS + 2, 0);
    fx_seg_in(&s);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CLOSED, NULL));
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

/* ------------------------------------------------------------------ SYN for a connection */

TestSuite(syn_for_connection, .init = setup);

static struct mtpg_tcp_syn syn_of(const struct mtpg_tcp_seg *s)
{
    struct mtpg_tcp_syn e = {.local_ip = s->local_ip, .remote_ip = s->remote_ip,
                             .local_port = s->local_port, .remote_port = s->remote_port,
                             .seq = s->seq, .window = s->window, .o = s->o};
    return e;
}

Test(syn_for_connection, established_answers_and_the_listener_keeps_out)
{
    fx_established();
    F.l.backlog = 8;
    struct mtpg_tcp_seg s = fx_seg(IRS + 99999, 0, 0);
    s.f_ack = false;
    s.f_syn = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1, "a challenge ACK");
    fx_reset_out();
    struct mtpg_tcp_syn e = syn_of(&s);
    fx_run(MTPG_TCP_EV_SYN, &e, &F.l);
    cr_assert_eq(F.out.n, 0u, "no second connection, no SYN-ACK");
    cr_assert_eq(F.l.pending.len, 0u);
    fx_run(MTPG_TCP_EV_SYN, &e, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 1, "the guard holds for one SYN only");
}

Test(syn_for_connection, syn_rcvd_repeats_its_syn_ack)
{
    fx_established();
    F.c.state = MTPG_TCP_SYN_RCVD;
    F.c.snd_una = ISS;
    struct mtpg_tcp_seg s = fx_seg(IRS, 0, 0);
    s.f_ack = false;
    s.f_syn = true;
    fx_seg_in(&s);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->syn && b->ack_flag);
    cr_assert_eq(b->ack, IRS + 1);
    fx_reset_out();
    struct mtpg_tcp_syn e = syn_of(&s);
    fx_run(MTPG_TCP_EV_SYN, &e, NULL);
    cr_assert_eq(F.out.n, 0u, "no RST from the no-listener path either");
}

Test(syn_for_connection, new_incarnation_replaces_time_wait)
{
    fx_established();
    F.c.state = MTPG_TCP_TIME_WAIT;
    F.c.rcv_nxt = IRS + 2;
    F.l.backlog = 8;
    struct mtpg_tcp_seg s = fx_seg(IRS + 100000, 0, 0);
    s.f_ack = false;
    s.f_syn = true;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
    fx_reset_out();
    struct mtpg_tcp_syn e = syn_of(&s);
    fx_run(MTPG_TCP_EV_SYN, &e, &F.l);
    cr_assert_eq(fx_count(MTP_OP_NEW_CTX), 1, "the listener opens the new connection");
}

Test(syn_for_connection, pure_syn_without_connection_is_left_to_the_listener)
{
    struct mtpg_tcp_seg s = fx_seg(IRS, 0, 0);
    s.f_ack = false;
    s.f_syn = true;
    fx_run(MTPG_TCP_EV_SEG, &s, NULL);
    cr_assert_eq(F.out.n, 0u);
}
