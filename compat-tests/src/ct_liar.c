/* ct_liar.so — proof that the suite can fail: an LD_PRELOAD library that bends one behaviour
 * each program checks (the way a careless socket layer would), so that every ct_* program must
 * report "not ok" under it (make test-compat-canfail). The lies, one per area:
 *   ct_fd       F_GETFD never shows FD_CLOEXEC
 *   ct_route    getpeername reports port + 1
 *   ct_errno    ECONNREFUSED comes back as ETIMEDOUT
 *   ct_io       recv ignores MSG_WAITALL
 *   ct_sockopt  SO_SNDBUF/SO_RCVBUF read back undoubled
 *   ct_poll     poll never reports POLLOUT
 *   ct_epoll    EPOLLET is dropped (level-triggered instead)
 * CT_LIE=<program name> picks the one lie in force (run.sh --must-fail sets it per program).
 * Only for the suite's own test, never shipped. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static bool lie(const char *area)
{
    const char *want = getenv("CT_LIE");
    return want && strcmp(want, area) == 0;
}

int fcntl(int fd, int cmd, ...);
int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    int r = REAL(fcntl)(fd, cmd, arg);
    return lie("ct_fd") && cmd == F_GETFD && r > 0 ? r & ~FD_CLOEXEC : r;
}

int fcntl64(int fd, int cmd, ...);
int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl(fd, cmd, arg);
}

int getpeername(int fd, struct sockaddr *restrict a, socklen_t *restrict len)
{
    int r = REAL(getpeername)(fd, a, len);
    if (lie("ct_route") && r == 0 && a && a->sa_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(ntohs(((struct sockaddr_in *)a)->sin_port) + 1);
    return r;
}

int connect(int fd, const struct sockaddr *a, socklen_t len)
{
    int r = REAL(connect)(fd, a, len);
    if (lie("ct_errno") && r < 0 && errno == ECONNREFUSED)
        errno = ETIMEDOUT;
    return r;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    return REAL(recv)(fd, buf, n, lie("ct_io") ? flags & ~MSG_WAITALL : flags);
}

int getsockopt(int fd, int level, int opt, void *restrict v, socklen_t *restrict len)
{
    int r = REAL(getsockopt)(fd, level, opt, v, len);
    if (lie("ct_sockopt") && r == 0 && level == SOL_SOCKET && (opt == SO_SNDBUF || opt == SO_RCVBUF))
        *(int *)v /= 2;
    return r;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    int r = REAL(poll)(fds, n, timeout);
    for (nfds_t i = 0; lie("ct_poll") && r > 0 && i < n; i++)
        fds[i].revents &= (short)~POLLOUT;
    return r;
}

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    if (ev && lie("ct_epoll"))
        ev->events &= ~(uint32_t)EPOLLET;
    return REAL(epoll_ctl)(ep, op, fd, ev);
}
