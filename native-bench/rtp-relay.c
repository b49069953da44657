/*
 * rtp-relay.c — native baseline for camgate's RTP fan-out (relay) path.
 *
 * What it does
 *   Receives RTP on one UDP socket in batches with recvmmsg(2) and forwards
 *   every packet to D destinations (1..16) with sendmmsg(2) from one
 *   unconnected UDP socket (one syscall per receive batch sends B x D
 *   datagrams).  For each destination the 12-byte fixed RTP header is
 *   rewritten: SSRC = ssrc_base + destination index, sequence number =
 *   a per-destination counter (continuous, starting at --seq-start), so every
 *   destination sees one gap-free RTP stream.  The rest of the packet (CSRCs,
 *   extension, payload) is not copied: each outgoing message is a two-element
 *   iovec {rewritten header, original bytes 12..len}.  Marker, payload type and
 *   timestamp are kept.  All input packets (whatever their SSRC) feed the same
 *   output stream per destination.  Datagrams that are not RTP (shorter than
 *   12 bytes or version != 2) are dropped and counted.
 *
 * Build
 *   make -C native-bench            (binary: native-bench/build/rtp-relay)
 *
 * Run
 *   rtp-relay --listen 127.0.0.1:PORT --to HOST:PORT[,HOST:PORT...]
 *             [--duration S] [--batch 64] [--ssrc-base N] [--seq-start N]
 *     --listen      IPv4 address:port to bind; port 0 = any free port.  The
 *                   bound port is printed on stderr as
 *                   "rtp-relay: listening on 127.0.0.1:PORT".
 *     --to          1..16 comma-separated IPv4 destinations.
 *     --duration S  stop after S seconds (fractions allowed); 0 (default) =
 *                   until SIGTERM / SIGINT.
 *     --batch N     datagrams per recvmmsg (1..1024, default 64).
 *     --ssrc-base N SSRC written for destination 0 (default 0x52000000 =
 *                   1375731712); destination i gets N + i.
 *     --seq-start N first output sequence number for every destination
 *                   (default 0).
 *
 * Output
 *   Human-readable lines on stderr.  At exit exactly one JSON line on stdout:
 *   {"tool":"rtp-relay","duration_s":..,"destinations":D,"batch":B,
 *    "ssrc_base":..,"packets_in":..,"bytes_in":..,"packets_out":..,
 *    "bytes_out":..,"non_rtp":..,"send_errors":..,"recv_calls":..,
 *    "send_calls":..,"pps_in":..,"pps_out":..,"rcvbuf":..,
 *    "cpu_user_s":..,"cpu_sys_s":..}
 *   packets_out counts datagrams the kernel accepted (packets_in x D when no
 *   send error happened); send_errors counts datagrams that failed to send
 *   (they are skipped, not retried).
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
#define MAX_DEST 16
#define MAX_DGRAM 65536



static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --listen HOST:PORT --to HOST:PORT[,HOST:PORT...] [--duration S]\n"
            "          [--batch N] [--ssrc-base N] [--seq-start N]\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *listen_s = NULL, *to_s = NULL;
    double duration = 0.0;
    long batch = 64;
    unsigned long ssrc_base = 0x52000000UL;
    unsigned long seq_start = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--listen") && v) {
            listen_s = v;
            i++;
        } else if (!strcmp(a, "--to") && v) {
            to_s = v;
            i++;
        } else if (!strcmp(a, "--duration") && v) {
            duration = strtod(v, &end);
            if (!end || *end || duration < 0) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--batch") && v) {
            batch = strtol(v, &end, 10);
            if (!end || *end || batch < 1 || batch > MAX_BATCH) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--ssrc-base") && v) {
            errno = 0;
            ssrc_base = strtoul(v, &end, 0);
            if (errno || !end || *end || ssrc_base > 0xFFFFFFFFUL) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--seq-start") && v) {
            errno = 0;
            seq_start = strtoul(v, &end, 0);
            if (errno || !end || *end || seq_start > 0xFFFFUL) { usage(argv[0]); return 1; }
            i++;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(argv[0]);
            return 0;
        } else {
            usage(argv[0]);
            return 1;
        }
    }
    if (!listen_s || !to_s) { usage(argv[0]); return 1; }

    struct sockaddr_in la, dest[MAX_DEST];
    if (parse_addr(listen_s, &la, SOCK_DGRAM) != 0) {
        fprintf(stderr, "rtp-relay: bad --listen address '%s'\n", listen_s);
        return 1;
    }
    size_t nd = 0;
    {
        char tmp[4096];
        if (strlen(to_s) >= sizeof tmp) { usage(argv[0]); return 1; }
        strcpy(tmp, to_s);
        char *save = NULL;
        for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (nd >= MAX_DEST) {
                fprintf(stderr, "rtp-relay: at most %d destinations\n", MAX_DEST);
                return 1;
            }
            if (parse_addr(tok, &dest[nd], SOCK_DGRAM) != 0 || dest[nd].sin_port == 0) {
                fprintf(stderr, "rtp-relay: bad destination '%s'\n", tok);
                return 1;
            }
            nd++;
        }
    }
    if (nd == 0) { usage(argv[0]); return 1; }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("rtp-relay: sigaction");
        return 2;
    }

    int rfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rfd < 0) { perror("rtp-relay: socket"); return 2; }
    set_buf(rfd, SO_RCVBUFFORCE, SO_RCVBUF, 32 * 1024 * 1024);
    int rb_got = 0;
    socklen_t rbl = sizeof rb_got;
    if (getsockopt(rfd, SOL_SOCKET, SO_RCVBUF, &rb_got, &rbl) != 0)
        rb_got = -1;
    if (bind(rfd, (struct sockaddr *)&la, sizeof la) != 0) {
        fprintf(stderr, "rtp-relay: bind %s: %s\n", listen_s, strerror(errno));
        return 2;
    }
    /* blocking send socket: sendmmsg waits for buffer space instead of dropping */
    int sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sfd < 0) { perror("rtp-relay: socket"); return 2; }
    set_buf(sfd, SO_SNDBUFFORCE, SO_SNDBUF, 8 * 1024 * 1024);

    struct sockaddr_in bound;
    socklen_t bl = sizeof bound;
    if (getsockname(rfd, (struct sockaddr *)&bound, &bl) != 0) { perror("rtp-relay: getsockname"); return 2; }
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip))
        strcpy(ip, "?");
    fprintf(stderr, "rtp-relay: listening on %s:%u, %zu destination(s), batch %ld, rcvbuf %d\n", ip,
            (unsigned)ntohs(bound.sin_port), nd, batch, rb_got);

    size_t nb = (size_t)batch;
    size_t nout = nb * nd;
    uint8_t *bufs = malloc(nb * MAX_DGRAM);
    struct mmsghdr *rmsgs = calloc(nb, sizeof *rmsgs);
    struct iovec *riov = calloc(nb, sizeof *riov);
    struct mmsghdr *smsgs = calloc(nout, sizeof *smsgs);
    struct iovec *siov = calloc(nout * 2, sizeof *siov);
    uint8_t *hdrs = calloc(nout, 12);
    if (!bufs || !rmsgs || !riov || !smsgs || !siov || !hdrs) {
        fprintf(stderr, "rtp-relay: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < nb; i++) {
        riov[i].iov_base = bufs + i * MAX_DGRAM;
        riov[i].iov_len = MAX_DGRAM;
        rmsgs[i].msg_hdr.msg_iov = &riov[i];
        rmsgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint16_t seq[MAX_DEST];
    uint8_t ssrc_be[MAX_DEST][4];
    for (size_t d = 0; d < nd; d++) {
        seq[d] = (uint16_t)seq_start;
        uint32_t s = (uint32_t)(ssrc_base + d);
        ssrc_be[d][0] = (uint8_t)(s >> 24);
        ssrc_be[d][1] = (uint8_t)(s >> 16);
        ssrc_be[d][2] = (uint8_t)(s >> 8);
        ssrc_be[d][3] = (uint8_t)s;
    }

    uint64_t pk_in = 0, by_in = 0, pk_out = 0, by_out = 0, non_rtp = 0, send_err = 0, recv_calls = 0, send_calls = 0;
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
        struct pollfd pfd = { .fd = rfd, .events = POLLIN, .revents = 0 };
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            perror("rtp-relay: poll");
            rc = 2;
            break;
        }
        if (pr == 0)
            continue;
        for (;;) {
            for (size_t i = 0; i < nb; i++)
                rmsgs[i].msg_hdr.msg_flags = 0;
            int n = recvmmsg(rfd, rmsgs, (unsigned)nb, MSG_DONTWAIT, NULL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    break;
                perror("rtp-relay: recvmmsg");
                rc = 2;
                g_stop = 1;
                break;
            }
            recv_calls++;
            /* build B x D outgoing messages, packet-major so that each
             * destination receives the packets in input order */
            size_t m = 0;
            for (int i = 0; i < n; i++) {
                uint8_t *p = bufs + (size_t)i * MAX_DGRAM;
                size_t len = rmsgs[i].msg_len;
                if (len < 12 || (p[0] >> 6) != 2) {
                    non_rtp++;
                    continue;
                }
                pk_in++;
                by_in += len;
                for (size_t d = 0; d < nd; d++, m++) {
                    uint8_t *h = hdrs + m * 12;
                    memcpy(h, p, 8);
                    h[2] = (uint8_t)(seq[d] >> 8);
                    h[3] = (uint8_t)seq[d];
                    seq[d]++;
                    memcpy(h + 8, ssrc_be[d], 4);
                    siov[2 * m].iov_base = h;
                    siov[2 * m].iov_len = 12;
                    siov[2 * m + 1].iov_base = p + 12;
                    siov[2 * m + 1].iov_len = len - 12;
                    struct msghdr *mh = &smsgs[m].msg_hdr;
                    mh->msg_name = &dest[d];
                    mh->msg_namelen = sizeof dest[d];
                    mh->msg_iov = &siov[2 * m];
                    mh->msg_iovlen = 2;
                    mh->msg_control = NULL;
                    mh->msg_controllen = 0;
                    mh->msg_flags = 0;
                    smsgs[m].msg_len = 0;
                }
            }
            size_t off = 0;
            while (off < m) {
                int s = sendmmsg(sfd, smsgs + off, (unsigned)(m - off), 0);
                send_calls++;
                if (s < 0) {
                    if (errno == EINTR)
                        continue;
                    /* this datagram failed (e.g. ENOBUFS, EPERM): skip it */
                    send_err++;
                    off++;
                    continue;
                }
                for (int k = 0; k < s; k++)
                    by_out += smsgs[off + (size_t)k].msg_len;
                pk_out += (uint64_t)s;
                off += (size_t)s;
            }
            if ((size_t)n < nb)
                break;
        }
    }
    double elapsed = now_s() - t0;
    struct rusage ru;
    double cu = 0, cs = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        cu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        cs = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    fprintf(stderr, "rtp-relay: %.3f s, in %llu pkts / %llu bytes, out %llu pkts / %llu bytes, send errors %llu, cpu %.3f user %.3f sys\n",
            elapsed, (unsigned long long)pk_in, (unsigned long long)by_in, (unsigned long long)pk_out,
            (unsigned long long)by_out, (unsigned long long)send_err, cu, cs);
    printf("{\"tool\":\"rtp-relay\",\"duration_s\":%.6f,\"destinations\":%zu,\"batch\":%ld,\"ssrc_base\":%lu,"
           "\"packets_in\":%llu,\"bytes_in\":%llu,\"packets_out\":%llu,\"bytes_out\":%llu,\"non_rtp\":%llu,"
           "\"send_errors\":%llu,\"recv_calls\":%llu,\"send_calls\":%llu,\"pps_in\":%.1f,\"pps_out\":%.1f,"
           "\"rcvbuf\":%d,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
           elapsed, nd, batch, ssrc_base, (unsigned long long)pk_in, (unsigned long long)by_in,
           (unsigned long long)pk_out, (unsigned long long)by_out, (unsigned long long)non_rtp,
           (unsigned long long)send_err, (unsigned long long)recv_calls, (unsigned long long)send_calls,
           elapsed > 0 ? (double)pk_in / elapsed : 0.0, elapsed > 0 ? (double)pk_out / elapsed : 0.0, rb_got, cu, cs);
    if (fflush(stdout) != 0)
        rc = 2;
    free(bufs);
    free(rmsgs);
    free(riov);
    free(smsgs);
    free(siov);
    free(hdrs);
    if (close(rfd) != 0 && rc == 0)
        rc = 2;
    if (close(sfd) != 0 && rc == 0)
        rc = 2;
    return rc;
}
