/* ct_fd — fd numbers and lifetime: lowest free numbers, fstat, dup/dup2/dup3, the last close
 * ends a connection, FD_CLOEXEC / O_NONBLOCK through socket(), accept4(), fcntl and FIONBIO,
 * shared file status flags, EBADF after close. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* socket() takes the lowest free number, as open() does, and the number is a socket. Counted
 * in a child of one thread: on lo the peers of later cases are threads of this process, and
 * their sockets (and the stack their listen() starts) take and free numbers meanwhile. */
static bool lowest_free_alone(void)
{
    int a = (int)CT_OK(open("/dev/null", O_RDONLY));
    int b = (int)CT_OK(open("/dev/null", O_RDONLY));
    close(a);
    int s = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    bool ok = CT_EQ(s, a);
    int f = (int)CT_OK(open("/dev/null", O_RDONLY)); /* next number after b, not s */
    ok &= CT_TRUE(f != s && f != b);
    struct stat st;
    ok &= CT_OK(fstat(s, &st)) == 0 && CT_TRUE(S_ISSOCK(st.st_mode));
    close(s);
    close(b);
    close(f);
    return ok && a >= 0 && b >= 0 && f >= 0;
}

static void lowest_free(const struct ct_ctx *c)
{
    (void)c;
    pid_t pid = (pid_t)CT_OK(fork());
    if (pid == 0)
        _exit(lowest_free_alone() ? 0 : 1);
    int status = 0;
    if (pid > 0 && CT_EQ(waitpid(pid, &status, 0), pid))
        CT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void echo_byte(int fd, char ch)
{
    char got = 0;
    if (ct_write_all(fd, &ch, 1) && ct_read_n(fd, &got, 1))
        CT_EQ(got, ch);
}

/* closing one copy keeps the connection; a dup2 onto an open file replaces the file */
static void dup_copies(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    int d = (int)CT_OK(dup(fd));
    CT_OK(close(fd));
    echo_byte(d, 'a');
    int file = (int)CT_OK(open("/dev/null", O_RDONLY));
    CT_EQ(dup2(d, file), file);
    echo_byte(file, 'b');
    CT_EQ(dup2(file, file), file);
    CT_ERR(dup3(file, file, 0), EINVAL);
    int e = (int)CT_OK(dup3(d, 100, O_CLOEXEC));
    CT_EQ(e, 100);
    CT_EQ(fcntl(e, F_GETFD), FD_CLOEXEC);
    CT_EQ(fcntl(d, F_GETFD), 0);
    echo_byte(e, 'c');
    int f = (int)CT_OK(fcntl(d, F_DUPFD_CLOEXEC, 200));
    CT_TRUE(f >= 200);
    CT_EQ(fcntl(f, F_GETFD), FD_CLOEXEC);
    echo_byte(f, 'd');
    /* copies share one open file description: status flags too */
    CT_OK(fcntl(d, F_SETFL, O_NONBLOCK));
    CT_TRUE(fcntl(e, F_GETFL) & O_NONBLOCK);
    char x;
    CT_ERR(read(f, &x, 1), EAGAIN);
    close(d);
    close(file);
    close(e);
    echo_byte(f, 'e'); /* still open through the last copy (non-blocking: ct_read_n polls) */
    close(f);
}

/* the last close ends the connection: the peer sees EOF only then */
static void last_close_local(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    int d = (int)CT_OK(dup(fd));
    CT_OK(close(fd));
    char got[2];
    /* the peer says "1" once it has seen no EOF for 200 ms, after our close of one copy */
    if (ct_read_n(d, got, 1))
        CT_EQ(got[0], '1');
    CT_OK(close(d));
}

static void last_close_peer(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    CT_EQ(ct_wait(fd, POLLIN | POLLRDHUP, 200), 0); /* nothing, no EOF */
    CT_TRUE(ct_write_all(fd, "1", 1));
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & POLLIN);
    char x;
    CT_EQ(read(fd, &x, 1), 0); /* EOF after the last copy closed */
    close(fd);
}

/* SOCK_CLOEXEC / SOCK_NONBLOCK, fcntl and FIONBIO agree with each other */
static void flags(const struct ct_ctx *c)
{
    (void)c;
    int s = (int)CT_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    CT_EQ(fcntl(s, F_GETFD), FD_CLOEXEC);
    CT_EQ(fcntl(s, F_GETFL) & (O_NONBLOCK | O_ACCMODE), O_NONBLOCK | O_RDWR);
    CT_OK(fcntl(s, F_SETFD, 0));
    CT_EQ(fcntl(s, F_GETFD), 0);
    int off = 0, on = 1;
    CT_OK(ioctl(s, FIONBIO, &off));
    CT_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    CT_OK(ioctl(s, FIONBIO, &on));
    CT_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    CT_OK(fcntl(s, F_SETFL, 0));
    CT_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    close(s);
    s = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    CT_EQ(fcntl(s, F_GETFD), 0);
    CT_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    close(s);
    CT_ERR(socket(AF_INET, SOCK_STREAM | 0x40000000, 0), EINVAL);
}

/* F_GETFL says exactly what the kernel would, whoever changed the flags: F_SETFL, FIONBIO,
 * FIOASYNC, a forked child through the description it shares (libmtp answers F_GETFL
 * without a system call while it knows them). */
static void status_flags_of(int s, bool fork_too)
{
    CT_EQ(fcntl(s, F_GETFL), O_RDWR);
    CT_OK(fcntl(s, F_SETFL, O_NONBLOCK));
    CT_EQ(fcntl(s, F_GETFL), O_RDWR | O_NONBLOCK);
    CT_OK(fcntl(s, F_SETFL, O_NONBLOCK | O_ASYNC));
    CT_EQ(fcntl(s, F_GETFL), O_RDWR | O_NONBLOCK | O_ASYNC);
    int off = 0;
    CT_OK(ioctl(s, FIOASYNC, &off));
    CT_EQ(fcntl(s, F_GETFL), O_RDWR | O_NONBLOCK);
    CT_OK(ioctl(s, FIONBIO, &off));
    CT_EQ(fcntl(s, F_GETFL), O_RDWR);
    if (!fork_too)
        return;
    CT_OK(fcntl(s, F_SETFL, O_NONBLOCK));
    pid_t pid = (pid_t)CT_OK(fork());
    if (pid == 0)
        _exit(fcntl(s, F_SETFL, 0) == 0 ? 0 : 1);
    int st = -1;
    CT_EQ(waitpid(pid, &st, 0), pid);
    CT_EQ(st, 0);
    CT_EQ(fcntl(s, F_GETFL), O_RDWR);
}

static void status_flags(const struct ct_ctx *c)
{
    /* Not under MTP's DPDK target, whose port is one process's: a forked child's MTP sockets
     * are closed there (docs/MULTIPROC.md), so it shares no description with us. */
    const char *target = getenv("MTP_TARGET");
    bool fork_too = !(target && !strcmp(target, "dpdk"));
    int s = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    status_flags_of(s, fork_too);
    close(s);
    s = ct_connect(c->pip, c->port);
    if (s < 0)
        return;
    status_flags_of(s, fork_too);
    close(s);
}

/* accept4 flags; accept does not inherit the listener's O_NONBLOCK */
static void accept_flags(const struct ct_ctx *c)
{
    int l = ct_listen(c->lo ? c->lip : "0.0.0.0", c->port);
    if (l < 0)
        return;
    CT_OK(fcntl(l, F_SETFL, O_NONBLOCK));
    if (!CT_TRUE(ct_wait(l, POLLIN, 10000) & POLLIN))
        goto out;
    int a = (int)CT_OK(accept(l, NULL, NULL));
    CT_EQ(fcntl(a, F_GETFL) & O_NONBLOCK, 0);
    CT_EQ(fcntl(a, F_GETFD), 0);
    char buf[5];
    if (ct_read_n(a, buf, 5))
        CT_TRUE(memcmp(buf, "hello", 5) == 0);
    close(a);
    if (!CT_TRUE(ct_wait(l, POLLIN, 10000) & POLLIN))
        goto out;
    a = (int)CT_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    CT_EQ(fcntl(a, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    CT_EQ(fcntl(a, F_GETFD), FD_CLOEXEC);
    if (ct_read_n(a, buf, 5))
        CT_TRUE(memcmp(buf, "hello", 5) == 0);
    close(a);
    CT_ERR(accept4(l, NULL, NULL, 0x40000000), EINVAL);
out:
    close(l);
}

static void two_hellos(const struct ct_ctx *c)
{
    ct_peer_hello(c);
    ct_peer_hello(c);
}

/* a closed number is EBADF for every socket call; select() takes socket numbers */
static void closed_and_select(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    CT_TRUE(fd < FD_SETSIZE);
    fd_set w;
    FD_ZERO(&w);
    FD_SET(fd, &w);
    struct timeval tv = {5, 0};
    CT_EQ(select(fd + 1, NULL, &w, NULL, &tv), 1);
    CT_TRUE(FD_ISSET(fd, &w));
    CT_OK(close(fd));
    char x = 0;
    CT_ERR(send(fd, &x, 1, 0), EBADF);
    CT_ERR(recv(fd, &x, 1, 0), EBADF);
    CT_ERR(write(fd, &x, 1), EBADF);
    CT_ERR(close(fd), EBADF);
    CT_ERR(shutdown(fd, SHUT_RDWR), EBADF);
    CT_ERR(dup(fd), EBADF);
    int fdf = (int)CT_OK(open("/dev/null", O_RDONLY)); /* a file is not a socket */
    CT_ERR(send(fdf, &x, 1, 0), ENOTSOCK);
    CT_ERR(getsockname(fdf, NULL, NULL), ENOTSOCK);
    close(fdf);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"socket() takes the lowest free fd number and fstat says socket", lowest_free, NULL},
        {"dup/dup2/dup3/F_DUPFD_CLOEXEC copies share the connection and its flags", dup_copies,
         ct_peer_echo},
        {"closing one copy keeps the connection, the last close sends EOF", last_close_local,
         last_close_peer},
        {"SOCK_CLOEXEC/SOCK_NONBLOCK, fcntl F_GETFD/F_SETFL and FIONBIO agree", flags, NULL},
        {"accept does not inherit O_NONBLOCK; accept4 flags apply", accept_flags, two_hellos},
        {"F_GETFL reports what F_SETFL, FIONBIO, FIOASYNC and a forked child set", status_flags,
         ct_peer_hold},
        {"select takes the number; a closed number is EBADF, a file ENOTSOCK", closed_and_select,
         ct_peer_hold},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
