/*
 * rtp-sink.c — the loss judge for camgate benchmarks (native baseline).
 *
 * What it does
 *   Binds one UDP socket, receives RTP datagrams in batches with recvmmsg(2)
 *   and keeps per-SSRC sequence accounting: the 16-bit RTP sequence number is
 *   extended to 64 bits (wrap-aware: each packet is placed at the extended
 *   value nearest to the highest one seen), and a 65 536-bit window of seen
 *   sequence numbers per SSRC tells duplicates from late (out-of-order)
 *   packets.  The socket receive buffer is made as large as allowed
 *   (SO_RCVBUFFORCE first, which needs CAP_NET_ADMIN, then SO_RCVBUF, which
 *   the kernel caps at net.core.rmem_max) so that the judge itself does not
 *   drop packets.
 *
 * Build
 *   make -C native-bench            (binary: native-bench/build/rtp-sink)
 *
 * Run
 *   rtp-sink --listen 127.0.0.1:PORT [--duration S] [--expect-ssrcs N]
 *            [--per-ssrc] [--batch N] [--rcvbuf BYTES]
 *     --listen       IPv4 address and port to bind (port 0 = any free port;
 *                    the bound port is printed on stderr as
 *                    "rtp-sink: listening on 127.0.0.1:PORT").
 *     --duration S   stop after S seconds (fractions allowed); default 0 =
 *                    run until SIGTERM / SIGINT.
 *     --expect-ssrcs N  number of SSRCs the benchmark sends; the JSON then
 *                    reports missing_ssrcs = max(0, N - ssrcs seen).
 *     --per-ssrc     add a "per_ssrc" array to the JSON line.
 *     --batch N      datagrams per recvmmsg call (1..1024, default 256).
 *     --rcvbuf B     requested receive buffer (default 64 MiB).
 *
 * Output
 *   Human-readable lines on stderr.  At exit exactly one JSON line on stdout:
 *   {"tool":"rtp-sink","duration_s":..,"ssrcs":..,"expect_ssrcs":..|null,
 *    "missing_ssrcs":..|null,"received":..,"unique":..,"expected":..,
 *    "lost":..,"loss_ratio":..,"duplicates":..,"out_of_order":..,
 *    "bytes":..,"payload_bytes":..,"non_rtp":..,"rcvbuf":..,
 *    "recv_calls":..,"pps":..,"cpu_user_s":..,"cpu_sys_s":..
 *    [,"per_ssrc":[{"ssrc":..,"received":..,"unique":..,"expected":..,
 *       "lost":..,"duplicates":..,"out_of_order":..,"bytes":..,
 *       "first_seq":..,"last_seq":..}, ...]]}
 *   Definitions (per SSRC, totals are sums):
 *     received     datagrams that parsed as RTP (version 2, >= 12 bytes)
 *     unique       received minus duplicates
 *     expected     highest extended seq - lowest extended seq + 1
 *     lost         expected - unique (never negative)
 *     duplicates   a sequence number already seen inside the 64 Ki window
 *     out_of_order a new (not duplicate) packet older than the highest seen
 *     bytes        UDP payload bytes (RTP header included) of received
 *   A sender that restarts its sequence far away (|delta| > 32767) is read
 *   as a jump forward/backward of that delta; benchmarks do not do that.
 *
 * Exit status 0 on a clean run, 1 on a usage error, 2 on a system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_BATCH 1024
#define MAX_DGRAM 65536
#define WIN_BITS 65536u


struct ssrc_stat {
    uint32_t ssrc;
    int used;
    uint64_t base_ext;   /* lowest extended seq seen */
    uint64_t max_ext;    /* highest extended seq seen */
    uint64_t received, duplicates, out_of_order, bytes;
    uint16_t first_seq, last_seq;
    uint8_t *win;        /* WIN_BITS bits, indexed by seq & 0xffff */
};

static struct ssrc_stat *g_tab = NULL;
static size_t g_cap = 0, g_count = 0;

static size_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return (size_t)x;
}

static int tab_grow(void)
{
    size_t ncap = g_cap ? g_cap * 2 : 64;
    struct ssrc_stat *n = calloc(ncap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < g_cap; i++) {
        if (!g_tab[i].used)
            continue;
        size_t j = hash32(g_tab[i].ssrc) & (ncap - 1);
        while (n[j].used)
            j = (j + 1) & (ncap - 1);
        n[j] = g_tab[i];
    }
    free(g_tab);
    g_tab = n;
    g_cap = ncap;
    return 0;
}

static struct ssrc_stat *tab_get(uint32_t ssrc)
{
    if (g_cap == 0 || (g_count + 1) * 2 > g_cap) {
        if (tab_grow() != 0)
            return NULL;
    }
    size_t j = hash32(ssrc) & (g_cap - 1);
    while (g_tab[j].used) {
        if (g_tab[j].ssrc == ssrc)
            return &g_tab[j];
        j = (j + 1) & (g_cap - 1);
    }
    uint8_t *win = calloc(WIN_BITS / 8, 1);
    if (!win)
        return NULL;
    g_tab[j].used = 1;
    g_tab[j].ssrc = ssrc;
    g_tab[j].win = win;
    g_count++;
    return &g_tab[j];
}

static inline int bit_get(const uint8_t *w, uint16_t s) { return (w[s >> 3] >> (s & 7)) & 1; }
static inline void bit_set(uint8_t *w, uint16_t s) { w[s >> 3] = (uint8_t)(w[s >> 3] | (1u << (s & 7))); }
static inline void bit_clr(uint8_t *w, uint16_t s) { w[s >> 3] = (uint8_t)(w[s >> 3] & ~(1u << (s & 7))); }

static void account(struct ssrc_stat *st, uint16_t seq, size_t len)
{
    st->received++;
    st->bytes += len;
    if (st->received == 1) {
        /* start the extended space at 2^32 so that a late packet before the
         * first one never underflows */
        st->base_ext = st->max_ext = ((uint64_t)1 << 32) | seq;
        st->first_seq = st->last_seq = seq;
        bit_set(st->win, seq);
        return;
    }
    int16_t delta = (int16_t)(uint16_t)(seq - (uint16_t)st->max_ext);
    if (delta > 0) {
        /* clear the window slots that now come into use */
        uint64_t d = (uint64_t)delta;
        for (uint64_t k = 1; k < d; k++)
            bit_clr(st->win, (uint16_t)(st->max_ext + k));
        bit_set(st->win, seq);
        st->max_ext += d;
        st->last_seq = seq;
        return;
    }
    uint64_t ext = st->max_ext - (uint64_t)(-(int32_t)delta);
    if (ext >= st->base_ext && bit_get(st->win, seq)) {
        st->duplicates++;
        return;
    }
    /* new packet older than the newest: late / reordered */
    st->out_of_order++;
    bit_set(st->win, seq);
    if (ext < st->base_ext) {
        /* slots between the new base and the old base were never used: clear */
        for (uint64_t e = ext + 1; e < st->base_ext; e++)
            bit_clr(st->win, (uint16_t)e);
        bit_set(st->win, seq);
        st->base_ext = ext;
        st->first_seq = seq;
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --listen HOST:PORT [--duration S] [--expect-ssrcs N] [--per-ssrc]\n"
            "          [--batch N] [--rcvbuf BYTES]\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *listen_s = NULL;
    double duration = 0.0;
    long expect_ssrcs = -1;
    int per_ssrc = 0;
    long batch = 256;
    long rcvbuf_req = 64L * 1024 * 1024;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--listen") && v) {
            listen_s = v;
            i++;
        } else if (!strcmp(a, "--duration") && v) {
            duration = strtod(v, &end);
            if (!end || *end || duration < 0) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--expect-ssrcs") && v) {
            expect_ssrcs = strtol(v, &end, 10);
            if (!end || *end || expect_ssrcs < 0) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--batch") && v) {
            batch = strtol(v, &end, 10);
            if (!end || *end || batch < 1 || batch > MAX_BATCH) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--rcvbuf") && v) {
            rcvbuf_req = strtol(v, &end, 10);
            if (!end || *end || rcvbuf_req < 4096 || rcvbuf_req > INT_MAX / 2) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--per-ssrc")) {
            per_ssrc = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(argv[0]);
            return 0;
        } else {
            usage(argv[0]);
            return 1;
        }
    }
    if (!listen_s) { usage(argv[0]); return 1; }
    struct sockaddr_in la;
    if (parse_addr(listen_s, &la, SOCK_DGRAM) != 0) {
        fprintf(stderr, "rtp-sink: bad --listen address '%s'\n", listen_s);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("rtp-sink: sigaction");
        return 2;
    }

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { perror("rtp-sink: socket"); return 2; }
    int rb = (int)rcvbuf_req;
    set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rb);
    int rb_got = 0;
    socklen_t rbl = sizeof rb_got;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb_got, &rbl) != 0)
        rb_got = -1;
    if (bind(fd, (struct sockaddr *)&la, sizeof la) != 0) {
        fprintf(stderr, "rtp-sink: bind %s: %s\n", listen_s, strerror(errno));
        return 2;
    }
    struct sockaddr_in bound;
    socklen_t bl = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bl) != 0) { perror("rtp-sink: getsockname"); return 2; }
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip))
        strcpy(ip, "?");
    fprintf(stderr, "rtp-sink: listening on %s:%u (rcvbuf %d bytes)\n", ip, (unsigned)ntohs(bound.sin_port), rb_got);

    size_t nb = (size_t)batch;
    uint8_t *bufs = malloc(nb * MAX_DGRAM);
    struct mmsghdr *msgs = calloc(nb, sizeof *msgs);
    struct iovec *iovs = calloc(nb, sizeof *iovs);
    if (!bufs || !msgs || !iovs) { fprintf(stderr, "rtp-sink: out of memory\n"); return 2; }
    for (size_t i = 0; i < nb; i++) {
        iovs[i].iov_base = bufs + i * MAX_DGRAM;
        iovs[i].iov_len = MAX_DGRAM;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    uint64_t non_rtp = 0, recv_calls = 0, oom = 0;
    double t0 = now_s();
    double deadline = duration > 0 ? t0 + duration : 0;
    int rc = 0;
    while (!g_stop) {
        int timeout_ms = 200;
        if (deadline > 0) {
            double left = deadline - now_s();
            if (left <= 0)
                break;
            if (left * 1000 < timeout_ms)
                timeout_ms = (int)(left * 1000) + 1;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN, .revents = 0 };
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            perror("rtp-sink: poll");
            rc = 2;
            break;
        }
        if (pr == 0)
            continue;
        for (;;) {
            for (size_t i = 0; i < nb; i++)
                msgs[i].msg_hdr.msg_flags = 0;
            int n = recvmmsg(fd, msgs, (unsigned)nb, MSG_DONTWAIT, NULL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                if (errno == ECONNREFUSED)
                    continue;
                perror("rtp-sink: recvmmsg");
                rc = 2;
                g_stop = 1;
                break;
            }
            recv_calls++;
            for (int i = 0; i < n; i++) {
                const uint8_t *p = bufs + (size_t)i * MAX_DGRAM;
                size_t len = msgs[i].msg_len;
                if (len < 12 || (p[0] >> 6) != 2) {
                    non_rtp++;
                    continue;
                }
                uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
                uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
                struct ssrc_stat *st = tab_get(ssrc);
                if (!st) {
                    oom++;
                    continue;
                }
                account(st, seq, len);
            }
            if ((size_t)n < nb)
                break;
        }
    }
    double elapsed = now_s() - t0;

    uint64_t received = 0, unique = 0, expected = 0, lost = 0, dups = 0, ooo = 0, bytes = 0;
    for (size_t i = 0; i < g_cap; i++) {
        struct ssrc_stat *st = &g_tab[i];
        if (!st->used)
            continue;
        uint64_t u = st->received - st->duplicates;
        uint64_t e = st->max_ext - st->base_ext + 1;
        received += st->received;
        unique += u;
        expected += e;
        lost += e > u ? e - u : 0;
        dups += st->duplicates;
        ooo += st->out_of_order;
        bytes += st->bytes;
    }
    struct rusage ru;
    double cu = 0, cs = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        cu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        cs = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    fprintf(stderr, "rtp-sink: %.3f s, %zu SSRCs, received %llu, expected %llu, lost %llu, dup %llu, ooo %llu, %llu bytes%s\n",
            elapsed, g_count, (unsigned long long)received, (unsigned long long)expected, (unsigned long long)lost,
            (unsigned long long)dups, (unsigned long long)ooo, (unsigned long long)bytes,
            oom ? " (OUT OF MEMORY for some SSRCs)" : "");

    printf("{\"tool\":\"rtp-sink\",\"duration_s\":%.6f,\"ssrcs\":%zu,", elapsed, g_count);
    if (expect_ssrcs >= 0)
        printf("\"expect_ssrcs\":%ld,\"missing_ssrcs\":%ld,", expect_ssrcs,
               expect_ssrcs > (long)g_count ? expect_ssrcs - (long)g_count : 0L);
    else
        printf("\"expect_ssrcs\":null,\"missing_ssrcs\":null,");
    printf("\"received\":%llu,\"unique\":%llu,\"expected\":%llu,\"lost\":%llu,\"loss_ratio\":%.9f,"
           "\"duplicates\":%llu,\"out_of_order\":%llu,\"bytes\":%llu,\"payload_bytes\":%llu,\"non_rtp\":%llu,"
           "\"rcvbuf\":%d,\"recv_calls\":%llu,\"pps\":%.1f,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f",
           (unsigned long long)received, (unsigned long long)unique, (unsigned long long)expected,
           (unsigned long long)lost, expected ? (double)lost / (double)expected : 0.0, (unsigned long long)dups,
           (unsigned long long)ooo, (unsigned long long)bytes, (unsigned long long)(bytes - received * 12),
           (unsigned long long)non_rtp, rb_got, (unsigned long long)recv_calls,
           elapsed > 0 ? (double)received / elapsed : 0.0, cu, cs);
    if (per_ssrc) {
        printf(",\"per_ssrc\":[");
        int first = 1;
        for (size_t i = 0; i < g_cap; i++) {
            struct ssrc_stat *st = &g_tab[i];
            if (!st->used)
                continue;
            uint64_t u = st->received - st->duplicates;
            uint64_t e = st->max_ext - st->base_ext + 1;
            printf("%s{\"ssrc\":%u,\"received\":%llu,\"unique\":%llu,\"expected\":%llu,\"lost\":%llu,"
                   "\"duplicates\":%llu,\"out_of_order\":%llu,\"bytes\":%llu,\"first_seq\":%u,\"last_seq\":%u}",
                   first ? "" : ",", st->ssrc, (unsigned long long)st->received, (unsigned long long)u,
                   (unsigned long long)e, (unsigned long long)(e > u ? e - u : 0),
                   (unsigned long long)st->duplicates, (unsigned long long)st->out_of_order,
                   (unsigned long long)st->bytes, (unsigned)st->first_seq, (unsigned)st->last_seq);
            first = 0;
        }
        printf("]");
    }
    printf("}\n");
    if (fflush(stdout) != 0)
        rc = 2;
    for (size_t i = 0; i < g_cap; i++)
        free(g_tab[i].win);
    free(g_tab);
    free(bufs);
    free(msgs);
    free(iovs);
    if (close(fd) != 0 && rc == 0)
        rc = 2;
    return rc;
}
