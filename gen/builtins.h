/*
 * builtins.h — the one table of mtpc's builtin functions (X-macros, as Lua's lopcodes.h).
 *
 * Each row holds every fact about a builtin that mtpc needs; sema.c and emit_c.c expand
 * the same rows into their own tables, and the `kind` column names the family code there:
 *     sema.c    check_b_<kind>(e, lo, hi)    arguments and result type
 *     emit_c.c  emit_v_<kind>(buf, e)        a value function's C expression
 *               emit_i_<kind>(e, row)        an instruction's append to the instruction buffer
 *
 * MTPC_VALUE_BUILTINS(X): X(name, ID, lo, hi, kind)
 *     functions that compute a value (now(), min(a, b), ...); they append nothing.
 * MTPC_INSTR_BUILTINS(X): X(name, ID, lo, hi, kind, OP, (fields))
 *     statements that append one instruction, or (produce) one event in a parser.
 *     OP      the opcode, enum mtp_op in core/include/mtp/program.h without MTP_OP_
 *             (NONE: not a runtime instruction)
 *     fields  the struct mtp_instr fields filled from the positional arguments, in order,
 *             each MTPC_F(path, C type); an optional trailing argument fills its field only
 *             when given.
 *
 * A new instruction whose arguments are scalars is one MTPC_INSTR_BUILTINS row of kind
 * `scalar`, one MTP_OPS row in program.h and its engine function op_<name> in engine.c.
 * test_gen checks at compile time that every OP here is an opcode of program.h.
 */
#ifndef MTPC_BUILTINS_H
#define MTPC_BUILTINS_H

#define MTPC_VALUE_BUILTINS(X)                                                              \
    X(now,        NOW,        0, 0,  now)                                                   \
    X(min,        MIN,        2, 2,  minmax)                                                \
    X(max,        MAX,        2, 2,  minmax)                                                \
    X(seq_lt,     SEQ_LT,     2, 2,  seq)                                                   \
    X(seq_leq,    SEQ_LEQ,    2, 2,  seq)                                                   \
    X(seq_gt,     SEQ_GT,     2, 2,  seq)                                                   \
    X(seq_geq,    SEQ_GEQ,    2, 2,  seq)                                                   \
    X(keyed_hash, KEYED_HASH, 1, 16, keyed_hash)                                            \
    X(rand32,     RAND32,     0, 0,  rand32)                                                \
    X(data,       DATA,       3, 3,  data)                                                  \
    X(len,        LEN,        1, 1,  len)                                                   \
    X(extract,    EXTRACT,    2, 2,  extract)                                               \
    X(tx_appended, TX_APPENDED, 1, 1, unit_model)                                           \
    X(tx_acked,   TX_ACKED,   1, 1,  unit_model)

#define MTPC_INSTR_BUILTINS(X)                                                              \
    X(new_rx_ordered_data, NEW_RX,        2, 3, scalar,  NEW_RX_DATA,                       \
      (MTPC_F(u.unit.uid, uint64_t), MTPC_F(u.unit.size, uint64_t),                         \
       MTPC_F(u.unit.addr, mtp_addr_t)))                                                    \
    X(add_rx_data_seg,     ADD_RX_SEG,    4, 4, scalar,  ADD_RX_SEG,                        \
      (MTPC_F(u.seg.uid, uint64_t), MTPC_F(u.seg.off, uint64_t),                            \
       MTPC_F(u.seg.addr, mtp_addr_t), MTPC_F(u.seg.len, uint32_t)))                        \
    X(rx_flush_and_notify, RX_FLUSH,      3, 3, scalar,  RX_FLUSH,                          \
      (MTPC_F(u.seg.uid, uint64_t), MTPC_F(u.seg.len, uint32_t),                            \
       MTPC_F(u.seg.addr, mtp_addr_t)))                                                     \
    X(new_tx_ordered_data, NEW_TX,        2, 3, scalar,  NEW_TX_DATA,                       \
      (MTPC_F(u.unit.uid, uint64_t), MTPC_F(u.unit.size, uint64_t),                         \
       MTPC_F(u.unit.addr, mtp_addr_t)))                                                    \
    X(add_tx_data,         ADD_TX,        3, 3, scalar,  ADD_TX_DATA,                       \
      (MTPC_F(u.seg.uid, uint64_t), MTPC_F(u.seg.addr, mtp_addr_t),                         \
       MTPC_F(u.seg.len, uint32_t)))                                                        \
    X(tx_flush_and_notify, TX_FLUSH,      2, 2, scalar,  TX_FLUSH,                          \
      (MTPC_F(u.seg.uid, uint64_t), MTPC_F(u.seg.len, uint32_t)))                           \
    X(pkt_gen,             PKT_GEN,       1, 1, pkt_gen, PKT_GEN, ())                       \
    X(timer_start,         TIMER_START,   2, 2, timer,   TIMER_START,                       \
      (MTPC_F(u.timer.id, uint16_t), MTPC_F(u.timer.dur_ns, uint64_t)))                     \
    X(timer_restart,       TIMER_RESTART, 2, 2, timer,   TIMER_START,                       \
      (MTPC_F(u.timer.id, uint16_t), MTPC_F(u.timer.dur_ns, uint64_t)))                     \
    X(timer_stop,          TIMER_STOP,    1, 1, timer,   TIMER_STOP,                        \
      (MTPC_F(u.timer.id, uint16_t)))                                                       \
    X(new_ctx,             NEW_CTX,       2, 2, new_ctx, NEW_CTX, ())                       \
    X(del_ctx,             DEL_CTX,       0, 0, scalar,  DEL_CTX, ())                       \
    X(set_queue_rate,      SET_QRATE,     2, 2, scalar,  SET_QUEUE_RATE,                    \
      (MTPC_F(u.sched.queue, uint16_t), MTPC_F(u.sched.value, uint64_t)))                   \
    X(set_queue_prio,      SET_QPRIO,     2, 2, scalar,  SET_QUEUE_PRIO,                    \
      (MTPC_F(u.sched.queue, uint16_t), MTPC_F(u.sched.value, uint64_t)))                   \
    X(notify,              NOTIFY,        2, 2, scalar,  NOTIFY,                            \
      (MTPC_F(u.note.code, uint32_t), MTPC_F(u.note.value, uint64_t)))                      \
    X(set_flow_prio,       SET_FLOW_PRIO, 1, 1, scalar,  SET_FLOW_PRIO,                     \
      (MTPC_F(u.sched.value, uint64_t)))                                                    \
    X(produce,             PRODUCE,       1, 2, produce, NONE, ())

/* Most fields an instruction row fills. */
#define MTPC_MAX_INSTR_FIELDS 4

/* (a, b, c) -> a, b, c: opens a row's parenthesised field list */
#define MTPC_UNPAREN(...) __VA_ARGS__

#endif
