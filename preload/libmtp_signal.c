/*
 * libmtp_signal.c — the application's signal handlers, seen by libmtp.
 *
 * The kernel ends a blocked poll/recv/accept with EINTR when a handler runs at any moment of
 * the wait. libmtp's wait is not one system call: it runs the stack between ppoll()s, and a
 * handler that ran there would go unseen by the next ppoll, which would sleep on. Blocking
 * signals around the wait closes that gap but costs two rt_sigprocmask calls per sleep, as
 * many system calls again as a ping-pong message needs (a sleep and a send).
 *
 * Instead every handler the application installs runs through trampoline(): it counts the
 * signal in the thread that takes it and, while that thread is inside a libmtp call that may
 * sleep, writes the thread's sleeper eventfd. A sleeping call compares the count with the one
 * it marked at its first sleep and says EINTR when it moved; a handler that runs just before
 * ppoll leaves the eventfd readable, so ppoll returns at once (the self-pipe trick).
 *
 * What goes through here: sigaction, signal (bsd_signal), sysv_signal (__sysv_signal),
 * sigset and siginterrupt, whose glibc versions call the kernel without passing through
 * sigaction's symbol; handlers already installed when libmtp.so loads are wrapped by
 * lm_signals_init. Queries answer with the application's own handler and flags. A handler
 * installed by a raw rt_sigaction system call is not seen: a signal it takes wakes a sleeping
 * call only inside ppoll (EINTR there), not in the gap.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "libmtp.h"

__thread unsigned lm_sig_count;
__thread bool lm_sig_interrupts;
__thread int lm_sig_wake_fd = -1;

/* What the application installed, per signal (valid while the kernel holds trampoline). The
 * function and the flags the trampoline needs are also kept apart, each stored whole, for a
 * signal taken on another thread while this one installs. */
static struct sigaction app_sa[NSIG];
static void *app_fn[NSIG];
static int app_flags[NSIG];
static sigset_t interrupting; /* siginterrupt(sig, 1) */
static int table_lock;

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void trampoline(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    lm_sig_count++;
    if (!(__atomic_load_n(&app_flags[sig], __ATOMIC_RELAXED) & SA_RESTART))
        lm_sig_interrupts = true;
    if (lm_sig_wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(lm_sig_wake_fd, &one, sizeof one);
        (void)w;
    }
    errno = saved;
    void *fn = __atomic_load_n(&app_fn[sig], __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&app_flags[sig], __ATOMIC_RELAXED) & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
    else if (fn != (void *)SIG_DFL && fn != (void *)SIG_IGN)
        ((void (*)(int))fn)(sig);
}

static bool is_handler(const struct sigaction *sa)
{
    if (sa->sa_flags & SA_SIGINFO)
        return sa->sa_sigaction != NULL;
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

static bool is_trampoline(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == trampoline;
}

/* The table changes with this thread's signals blocked (a handler of its own calling
 * sigaction must not wait for itself) and other threads kept out by a spin lock. */
static void table_enter(sigset_t *saved)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, saved);
    while (__atomic_exchange_n(&table_lock, 1, __ATOMIC_ACQUIRE))
        ;
}

static void table_leave(const sigset_t *saved)
{
    __atomic_store_n(&table_lock, 0, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* The kernel's answer, with the application's handler where the kernel holds ours. */
static void report(int sig, const struct sigaction *kernel, struct sigaction *out)
{
    *out = is_trampoline(kernel) ? app_sa[sig] : *kernel;
}

LM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!real_sigaction)
        lm_signals_init();
    if (sig <= 0 || sig >= NSIG || !act || !is_handler(act)) {
        struct sigaction prev;
        int r = real_sigaction(sig, act, &prev);
        if (r == 0 && old)
            report(sig, &prev, old);
        return r;
    }
    sigset_t saved;
    table_enter(&saved);
    struct sigaction prev_app = app_sa[sig], k = *act, prev;
    k.sa_sigaction = trampoline;
    k.sa_flags |= SA_SIGINFO;
    app_sa[sig] = *act;
    void *prev_fn = app_fn[sig];
    int prev_flags = app_flags[sig];
    __atomic_store_n(&app_flags[sig], act->sa_flags, __ATOMIC_RELAXED);
    __atomic_store_n(&app_fn[sig],
                     (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler,
                     __ATOMIC_RELEASE);
    int r = real_sigaction(sig, &k, &prev);
    int err = errno;
    if (r < 0) { /* nothing changed in the kernel: neither here */
        app_sa[sig] = prev_app;
        __atomic_store_n(&app_flags[sig], prev_flags, __ATOMIC_RELAXED);
        __atomic_store_n(&app_fn[sig], prev_fn, __ATOMIC_RELEASE);
    } else if (old) {
        *old = is_trampoline(&prev) ? prev_app : prev;
    }
    table_leave(&saved);
    errno = err;
    return r;
}

/* glibc's signal(): BSD semantics (restarted calls, the signal blocked in its handler) unless
 * siginterrupt said otherwise. */
LM_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction sa = {.sa_handler = handler}, old;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, sig);
    sa.sa_flags = sigismember(&interrupting, sig) ? 0 : SA_RESTART;
    if (sigaction(sig, &sa, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

sighandler_t bsd_signal(int sig, sighandler_t handler);
LM_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler) { return signal(sig, handler); }

/* System V semantics: the handler is reset on delivery and the signal not blocked in it. */
LM_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESETHAND | SA_NODEFER}, old;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) < 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* What `signal` names in a program built for strict ISO C (no _DEFAULT_SOURCE). */
sighandler_t __sysv_signal(int sig, sighandler_t handler);
LM_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
    return sysv_signal(sig, handler);
}

LM_EXPORT int siginterrupt(int sig, int flag)
{
    struct sigaction sa;
    if (sig <= 0 || sig >= NSIG || sigaction(sig, NULL, &sa) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (flag) {
        sigaddset(&interrupting, sig);
        sa.sa_flags &= ~SA_RESTART;
    } else {
        sigdelset(&interrupting, sig);
        sa.sa_flags |= SA_RESTART;
    }
    return sigaction(sig, &sa, NULL);
}

/* X/Open: SIG_HOLD blocks the signal; any other disposition installs it and unblocks. */
LM_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
    if (disp == SIG_ERR || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    sigset_t one, before;
    sigemptyset(&one);
    sigaddset(&one, sig);
    struct sigaction old;
    if (disp == SIG_HOLD) {
        if (sigaction(sig, NULL, &old) < 0 || sigprocmask(SIG_BLOCK, &one, &before) < 0)
            return SIG_ERR;
        return sigismember(&before, sig) ? SIG_HOLD : old.sa_handler;
    }
    struct sigaction sa = {.sa_handler = disp};
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) < 0 || sigprocmask(SIG_UNBLOCK, &one, &before) < 0)
        return SIG_ERR;
    return sigismember(&before, sig) ? SIG_HOLD : old.sa_handler;
}

/* Wraps the handlers installed before libmtp.so was loaded (by another preloaded library).
 * Runs from the constructor, or from the first sigaction if that comes earlier. */
void lm_signals_init(void)
{
    if (real_sigaction)
        return;
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    if (!real_sigaction) { /* as libmtp_core.c's die(): one line, before main runs */
        static const char msg[] = "libmtp: cannot find libc's sigaction\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(1);
    }
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction cur;
        if (sig == SIGKILL || sig == SIGSTOP || real_sigaction(sig, NULL, &cur) < 0 ||
            !is_handler(&cur) || is_trampoline(&cur))
            continue;
        sigaction(sig, &cur, NULL);
    }
}
