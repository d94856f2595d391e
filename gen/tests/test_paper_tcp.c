/*
 * test_paper_tcp.c — the flow-key packer and unpacker mtpc generates for a flow_id
 * (paper_tcp.mtp's conn_id: fields of mixed widths in declaration order).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "paper_tcp.h"

Test(paper_tcp_key, unpacker_inverts_the_packer)
{
    struct mtpg_paper_tcp_conn_id id = {
        .remote_ip = 0x0a000002, .local_ip = 0x0a000001, .remote_port = 40000, .local_port = 80};
    struct mtp_key k;
    mtpg_paper_tcp_key_conn_id(&k, &id);
    /* packed field after field, host order, zero padded (program.h) */
    uint32_t rip;
    uint16_t lport;
    memcpy(&rip, k.b, 4);
    memcpy(&lport, k.b + 10, 2);
    cr_expect_eq(rip, 0x0a000002u);
    cr_expect_eq(lport, 80);
    for (int i = 12; i < MTP_KEY_BYTES; i++)
        cr_expect_eq(k.b[i], 0, "byte %d not zero", i);

    struct mtpg_paper_tcp_conn_id back;
    memset(&back, 0xa5, sizeof back);
    mtpg_paper_tcp_unkey_conn_id(&k, &back);
    cr_expect_eq(back.remote_ip, id.remote_ip);
    cr_expect_eq(back.local_ip, id.local_ip);
    cr_expect_eq(back.remote_port, id.remote_port);
    cr_expect_eq(back.local_port, id.local_port);

    struct mtpg_paper_tcp_listen_id l = {.local_ip = 7, .local_port = 9}, lb;
    mtpg_paper_tcp_key_listen_id(&k, &l);
    mtpg_paper_tcp_unkey_listen_id(&k, &lb);
    cr_expect(lb.local_ip == 7 && lb.local_port == 9);
}
