/*
 * jt1078-pipeline.c — native baseline for camgate's JT/T 1078 media hot path.
 *
 * What it does (the same work as camgate's ingest → PS mux → RTP path)
 *   1. Accepts TCP connections on --listen (epoll, non-blocking sockets,
 *      level-triggered, any number of connections up to RLIMIT_NOFILE).
 *   2. Parses JT/T 1078-2016 packets from each connection's byte stream:
 *      magic 30 31 63 64, V=2, 2016 header with BCD[6] SIM, logical channel,
 *      data type (0 I, 1 P, 2 B, 3 audio, 4 transparent) and sub-package flag
 *      (0 atomic, 1 first, 2 last, 3 middle), 8-byte ms timestamp (absent for
 *      transparent), the two interval fields (video only), body length.
 *      Header length 30 (video) / 26 (audio) / 18 (transparent).  On a bad
 *      magic or an impossible header it resynchronises on the next magic
 *      (parse_errors +1 per resync, resync_bytes counts skipped bytes).
 *   3. Reassembles sub-packages into frames per (connection, channel, kind
 *      video/audio): first starts, middle/last must follow with sequence
 *      number +1 (16-bit wrap) or the partial frame is dropped
 *      (seq_errors / incomplete_frames) and video waits for the next I-frame.
 *      Frames are capped at 2 MiB (oversize: the rest of that frame is
 *      skipped until its last piece).  Video also waits for the first I-frame.
 *   4. Muxes each frame into GB28181-style MPEG-2 PS: pack header (SCR =
 *      PTS, mux_rate 6106) on every frame; system header + PSM (stream_type
 *      0x1B H.264 / 0x24 H.265 on 0xE0, 0x90 G.711A / 0x91 G.711U on 0xC0,
 *      CRC-32/MPEG-2) before every key frame; PES 0xE0 (video) / 0xC0 (audio)
 *      with PTS only (DTS == PTS), PTS = 3600 + (ts - ts0) * 90 in 90 kHz,
 *      33-bit wrap, ts0 = first timestamp of the connection; PES longer than
 *      65 535 bytes are split into several PES (continuations carry no PTS).
 *      Video PT 98 (H.264) and 99 (H.265), audio PT 6 (G.711A) and 7 (G.711U)
 *      are muxed; other payload types are counted as unsupported and dropped.
 *      Transparent data (type 4) is counted and dropped.
 *   5. Packetizes each frame's PS bytes into RTP: V2, PT 96, one SSRC per
 *      (connection, channel) output stream (ssrc_base + creation index),
 *      sequence +1 per packet per stream, timestamp = PTS (32 bits), marker on
 *      the frame's last packet, payload <= --payload bytes (default 1400).
 *   6. Sends all RTP packets to one UDP destination (--to) with sendmmsg(2)
 *      from a connected socket, batched (up to 1024 datagrams per call; a
 *      flush happens after every epoll_wait round and when the batch is full).
 *      Headers are written into a per-batch array and the PS bytes into a
 *      per-batch arena, so each datagram is a 2-element iovec (no per-packet
 *      copy into a contiguous datagram).
 *   The 2019 header variant (BCD[10] SIM) is not handled (it resyncs).
 *
 * Build
 *   make -C native-bench            (binary: native-bench/build/jt1078-pipeline)
 *
 * Run
 *   jt1078-pipeline --listen 127.0.0.1:PORT --to HOST:PORT [--duration S]
 *                   [--payload 1400] [--ssrc-base N]
 *     --listen      TCP address:port; port 0 = any free port.  The bound port
 *                   is printed on stderr as
 *                   "jt1078-pipeline: listening on 127.0.0.1:PORT".
 *     --to          UDP destination for every RTP packet.
 *     --duration S  stop after S seconds; 0 (default) = until SIGTERM/SIGINT.
 *     --payload N   maximum RTP payload bytes (188..8192, default 1400).
 *     --ssrc-base N SSRC of the first output stream (default 0x4A000001 =
 *                   1241513985); the k-th stream created gets N + k.
 *
 * Output
 *   Human-readable lines on stderr.  At exit exactly one JSON line on stdout:
 *   {"tool":"jt1078-pipeline","duration_s":..,"connections":..,
 *    "connections_open":..,"connections_max":..,"streams":..,
 *    "packets_in":..,"bytes_in":..,"frames":..,"video_frames":..,
 *    "audio_frames":..,"key_frames":..,"rtp_packets_out":..,"bytes_out":..,
 *    "parse_errors":..,"resync_bytes":..,"seq_errors":..,
 *    "incomplete_frames":..,"skipped_wait_key":..,"unsupported":..,
 *    "transparent":..,"oversize":..,"send_errors":..,"send_calls":..,
 *    "pps_in":..,"rtp_pps_out":..,"cpu_user_s":..,"cpu_sys_s":..}
 *   connections = accepted in total; frames = video_frames + audio_frames
 *   muxed and sent; bytes_out = RTP bytes (headers included) the kernel
 *   accepted; rtp_packets_out = datagrams the kernel accepted.
 *
 * Exit status 0 on a clean run, 1 on a usage error, 2 on a system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_FRAME (2u * 1024 * 1024)        /* reassembled frame cap */
#define CONN_BUF_INIT (16u * 1024)
#define CONN_BUF_MAX (256u * 1024)          /* > 2 x largest packet (65 565) */
#define READ_MIN (8u * 1024)
#define MAX_MSGS 1024                        /* sendmmsg vlen limit (UIO_MAXIOV) */
#define ARENA_SIZE (6u * 1024 * 1024)        /* PS bytes per send batch */
#define MAX_EVENTS 256
#define PS_MUX_RATE 6106u
#define PTS_MASK ((((uint64_t)1) << 33) - 1)


/* ------------------------------------------------------------------ stats */

static struct {
    uint64_t connections, connections_open, connections_max, streams;
    uint64_t packets_in, bytes_in, video_frames, audio_frames, key_frames;
    uint64_t rtp_out, bytes_out, parse_errors, resync_bytes, seq_errors;
    uint64_t incomplete, skipped_wait_key, unsupported, transparent, oversize;
    uint64_t send_errors, send_calls, oom;
} S;

/* --------------------------------------------------------- CRC-32/MPEG-2 */

static uint32_t g_crc_tab[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i << 24;
        for (int k = 0; k < 8; k++)
            c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : (c << 1);
        g_crc_tab[i] = c;
    }
}

static uint32_t crc32_mpeg(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = (c << 8) ^ g_crc_tab[((c >> 24) ^ p[i]) & 0xFF];
    return c;
}

/* ------------------------------------------------------------- send batch */

static int g_ufd = -1;
static uint8_t *g_arena;
static size_t g_arena_len;
static struct mmsghdr g_msgs[MAX_MSGS];
static struct iovec g_iov[MAX_MSGS * 2];
static uint8_t g_hdr[MAX_MSGS * 12];
static size_t g_nmsgs;
static size_t g_payload = 1400;

/* send the queued datagrams (the arena stays valid) */
static void send_msgs(void)
{
    size_t off = 0;
    while (off < g_nmsgs) {
        int s = sendmmsg(g_ufd, g_msgs + off, (unsigned)(g_nmsgs - off), 0);
        S.send_calls++;
        if (s < 0) {
            if (errno == EINTR)
                continue;
            /* ECONNREFUSED (nobody listening), ENOBUFS, ...: skip one datagram */
            S.send_errors++;
            off++;
            continue;
        }
        for (int k = 0; k < s; k++)
            S.bytes_out += g_msgs[off + (size_t)k].msg_len;
        S.rtp_out += (uint64_t)s;
        off += (size_t)s;
    }
    g_nmsgs = 0;
}

/* send everything and recycle the arena */
static void flush_batch(void)
{
    send_msgs();
    g_arena_len = 0;
}

/* ---------------------------------------------------------------- streams */

struct part {
    uint8_t *buf;
    size_t len, cap;
    int active;
    int discard;     /* an oversize frame is being skipped until its last piece */
    uint16_t last_seq;
    uint8_t dtype;   /* data type of the first piece */
    uint8_t pt;
    uint64_t ts;
};

struct ostream {
    uint8_t channel;
    uint32_t ssrc;
    uint16_t seq;
    int need_key;
    uint8_t vtype, atype; /* PSM stream types; 0 = not seen yet */
    uint8_t psm_version;
    struct part video, audio;
};

struct conn {
    struct conn *prev, *next; /* list of live connections */
    int fd;
    uint8_t *buf;
    size_t len, cap;
    int have_ts0;
    uint64_t ts0;
    struct ostream **st;
    size_t nst;
};

static uint32_t g_ssrc_next = 0x4A000001u;
static struct conn *g_conns = NULL;

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static struct ostream *get_stream(struct conn *c, uint8_t ch)
{
    for (size_t i = 0; i < c->nst; i++)
        if (c->st[i]->channel == ch)
            return c->st[i];
    struct ostream **n = realloc(c->st, (c->nst + 1) * sizeof *n);
    if (!n)
        return NULL;
    c->st = n;
    struct ostream *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->channel = ch;
    o->ssrc = g_ssrc_next++;
    o->need_key = 1;
    c->st[c->nst++] = o;
    S.streams++;
    return o;
}

static void free_stream(struct ostream *o)
{
    free(o->video.buf);
    free(o->audio.buf);
    free(o);
}

static int part_append(struct part *p, const uint8_t *d, size_t n)
{
    if (p->len + n > MAX_FRAME)
        return -1;
    if (p->len + n > p->cap) {
        size_t nc = p->cap ? p->cap : 16384;
        while (nc < p->len + n)
            nc *= 2;
        if (nc > MAX_FRAME)
            nc = MAX_FRAME;
        uint8_t *b = realloc(p->buf, nc);
        if (!b)
            return -2;
        p->buf = b;
        p->cap = nc;
    }
    memcpy(p->buf + p->len, d, n);
    p->len += n;
    return 0;
}

/* --------------------------------------------------------------- PS mux */

static uint8_t *put_pack_header(uint8_t *b, uint64_t scr)
{
    b[0] = 0; b[1] = 0; b[2] = 1; b[3] = 0xBA;
    b[4] = (uint8_t)(0x44 | ((scr >> 27) & 0x38) | ((scr >> 28) & 0x03));
    b[5] = (uint8_t)(scr >> 20);
    b[6] = (uint8_t)(((scr >> 12) & 0xF8) | 0x04 | ((scr >> 13) & 0x03));
    b[7] = (uint8_t)(scr >> 5);
    b[8] = (uint8_t)(((scr << 3) & 0xF8) | 0x04);  /* SCR_ext = 0 */
    b[9] = 0x01;
    uint32_t mr = (PS_MUX_RATE << 2) | 3;
    b[10] = (uint8_t)(mr >> 16);
    b[11] = (uint8_t)(mr >> 8);
    b[12] = (uint8_t)mr;
    b[13] = 0xF8;                                    /* no stuffing */
    return b + 14;
}

static uint8_t *put_system_header(uint8_t *b, int has_audio)
{
    size_t body = 6 + 3 + (has_audio ? 3 : 0);
    b[0] = 0; b[1] = 0; b[2] = 1; b[3] = 0xBB;
    b[4] = (uint8_t)(body >> 8);
    b[5] = (uint8_t)body;
    uint32_t rb = 0x800001u | (PS_MUX_RATE << 1);    /* marker, rate_bound, marker */
    b[6] = (uint8_t)(rb >> 16);
    b[7] = (uint8_t)(rb >> 8);
    b[8] = (uint8_t)rb;
    b[9] = (uint8_t)((has_audio ? 1 : 0) << 2);      /* audio_bound, fixed 0, CSPS 0 */
    b[10] = 0xE1;                                    /* audio lock, video lock, marker, video_bound 1 */
    b[11] = 0x7F;                                    /* packet_rate_restriction 0, reserved */
    b[12] = 0xE0; b[13] = 0xE0 | 0x04; b[14] = 0x00; /* video: scale 1 (1024), size 0x400 */
    uint8_t *p = b + 15;
    if (has_audio) {
        p[0] = 0xC0; p[1] = 0xC0; p[2] = 0x20;       /* audio: scale 0 (128), size 0x20 */
        p += 3;
    }
    return p;
}

static uint8_t *put_psm(uint8_t *b, const struct ostream *o)
{
    size_t n = 0;
    uint8_t es[8];
    if (o->vtype) { es[n++] = o->vtype; es[n++] = 0xE0; es[n++] = 0; es[n++] = 0; }
    if (o->atype) { es[n++] = o->atype; es[n++] = 0xC0; es[n++] = 0; es[n++] = 0; }
    size_t len = 6 + n + 4;
    b[0] = 0; b[1] = 0; b[2] = 1; b[3] = 0xBC;
    b[4] = (uint8_t)(len >> 8);
    b[5] = (uint8_t)len;
    b[6] = (uint8_t)(0xE0 | (o->psm_version & 0x1F)); /* current_next 1, reserved, version */
    b[7] = 0xFF;                                      /* reserved, marker */
    b[8] = 0; b[9] = 0;                               /* program_stream_info_length */
    b[10] = (uint8_t)(n >> 8);
    b[11] = (uint8_t)n;
    memcpy(b + 12, es, n);
    uint32_t crc = crc32_mpeg(b, 12 + n);
    uint8_t *p = b + 12 + n;
    p[0] = (uint8_t)(crc >> 24); p[1] = (uint8_t)(crc >> 16); p[2] = (uint8_t)(crc >> 8); p[3] = (uint8_t)crc;
    return p + 4;
}

static void put_pts(uint8_t *b, uint64_t pts)
{
    b[0] = (uint8_t)(0x20 | (((pts >> 30) & 0x07) << 1) | 1);
    b[1] = (uint8_t)(pts >> 22);
    b[2] = (uint8_t)((((pts >> 15) & 0x7F) << 1) | 1);
    b[3] = (uint8_t)(pts >> 7);
    b[4] = (uint8_t)(((pts & 0x7F) << 1) | 1);
}

static uint8_t *put_pes(uint8_t *b, uint8_t sid, const uint8_t *data, size_t n, uint64_t pts)
{
    int first = 1;
    do {
        size_t maxp = first ? 65535 - 8 : 65535 - 3;
        size_t c = n < maxp ? n : maxp;
        size_t plen = (first ? 8 : 3) + c;
        b[0] = 0; b[1] = 0; b[2] = 1; b[3] = sid;
        b[4] = (uint8_t)(plen >> 8);
        b[5] = (uint8_t)plen;
        if (first) {
            b[6] = (uint8_t)(sid == 0xE0 ? 0x84 : 0x80); /* '10', data_alignment on video */
            b[7] = 0x80;                                 /* PTS only */
            b[8] = 5;
            put_pts(b + 9, pts);
            b += 14;
        } else {
            b[6] = 0x80; b[7] = 0x00; b[8] = 0;
            b += 9;
        }
        memcpy(b, data, c);
        b += c;
        data += c;
        n -= c;
        first = 0;
    } while (n > 0);
    return b;
}

/* Mux one frame into PS and queue its RTP packets. */
static void emit_frame(struct ostream *o, int audio, int key, const uint8_t *data, size_t n, uint64_t pts)
{
    /* pack 14 + system header <= 18 + PSM <= 24 + PES headers 14 + 9 per split */
    size_t need = n + 14 + 18 + 24 + 14 + (n / 65532 + 1) * 9;
    if (g_arena_len + need > ARENA_SIZE)
        flush_batch();
    if (need > ARENA_SIZE) { /* impossible: frames are capped at MAX_FRAME */
        S.oversize++;
        return;
    }
    uint8_t *start = g_arena + g_arena_len;
    uint8_t *b = put_pack_header(start, pts);
    if (key) {
        b = put_system_header(b, o->atype != 0);
        b = put_psm(b, o);
    }
    b = put_pes(b, audio ? 0xC0 : 0xE0, data, n, pts);
    size_t total = (size_t)(b - start);
    g_arena_len += total;
    uint32_t ts32 = (uint32_t)pts;
    for (size_t off = 0; off < total; off += g_payload) {
        size_t c = total - off < g_payload ? total - off : g_payload;
        int last = off + c >= total;
        if (g_nmsgs == MAX_MSGS)
            send_msgs();
        uint8_t *h = g_hdr + g_nmsgs * 12;
        h[0] = 0x80;
        h[1] = (uint8_t)((last ? 0x80 : 0) | 96);
        h[2] = (uint8_t)(o->seq >> 8);
        h[3] = (uint8_t)o->seq;
        o->seq++;
        h[4] = (uint8_t)(ts32 >> 24); h[5] = (uint8_t)(ts32 >> 16); h[6] = (uint8_t)(ts32 >> 8); h[7] = (uint8_t)ts32;
        h[8] = (uint8_t)(o->ssrc >> 24); h[9] = (uint8_t)(o->ssrc >> 16); h[10] = (uint8_t)(o->ssrc >> 8); h[11] = (uint8_t)o->ssrc;
        struct iovec *v = &g_iov[g_nmsgs * 2];
        v[0].iov_base = h;
        v[0].iov_len = 12;
        v[1].iov_base = start + off;
        v[1].iov_len = c;
        struct msghdr *mh = &g_msgs[g_nmsgs].msg_hdr;
        memset(mh, 0, sizeof *mh);
        mh->msg_iov = v;
        mh->msg_iovlen = 2;
        g_msgs[g_nmsgs].msg_len = 0;
        g_nmsgs++;
    }
    if (audio)
        S.audio_frames++;
    else
        S.video_frames++;
    if (key)
        S.key_frames++;
}

static void frame_done(struct conn *c, struct ostream *o, int audio, uint8_t dtype, uint8_t pt, uint64_t ts,
                       const uint8_t *data, size_t n)
{
    if (!c->have_ts0) {
        c->have_ts0 = 1;
        c->ts0 = ts;
    }
    uint64_t pts = (3600 + (ts - c->ts0) * 90) & PTS_MASK;
    if (audio) {
        uint8_t at = pt == 6 ? 0x90 : pt == 7 ? 0x91 : 0;
        if (!at) {
            S.unsupported++;
            return;
        }
        if (o->atype != at) {
            o->atype = at;
            o->psm_version++;
        }
        emit_frame(o, 1, 0, data, n, pts);
        return;
    }
    uint8_t vt = pt == 98 ? 0x1B : pt == 99 ? 0x24 : 0;
    if (!vt) {
        S.unsupported++;
        return;
    }
    if (o->vtype != vt) {
        o->vtype = vt;
        o->psm_version++;
    }
    int key = dtype == 0;
    if (o->need_key && !key) {
        S.skipped_wait_key++;
        return;
    }
    o->need_key = 0;
    emit_frame(o, 0, key, data, n, pts);
}

static void drop_partial(struct ostream *o, struct part *p, int audio)
{
    if (p->active) {
        S.incomplete++;
        p->active = 0;
        p->len = 0;
        if (!audio)
            o->need_key = 1;
    }
}

static void handle_packet(struct conn *c, const uint8_t *p, size_t hl, size_t blen)
{
    S.packets_in++;
    uint8_t pt = p[5] & 0x7F;
    uint16_t seq = be16(p + 6);
    uint8_t ch = p[14];
    uint8_t dtype = p[15] >> 4, sub = p[15] & 0x0F;
    if (dtype == 4) {
        S.transparent++;
        return;
    }
    uint64_t ts = be64(p + 16);
    const uint8_t *body = p + hl;
    struct ostream *o = get_stream(c, ch);
    if (!o) {
        S.oom++;
        return;
    }
    int audio = dtype == 3;
    struct part *pa = audio ? &o->audio : &o->video;
    switch (sub) {
    case 0: /* atomic */
        pa->discard = 0;
        drop_partial(o, pa, audio);
        frame_done(c, o, audio, dtype, pt, ts, body, blen);
        return;
    case 1: /* first */
        pa->discard = 0;
        drop_partial(o, pa, audio);
        pa->len = 0;
        if (part_append(pa, body, blen) != 0) {
            S.oversize++;
            return;
        }
        pa->active = 1;
        pa->last_seq = seq;
        pa->dtype = dtype;
        pa->pt = pt;
        pa->ts = ts;
        return;
    default: /* 2 last, 3 middle */
        if (pa->discard) {
            if (sub == 2)
                pa->discard = 0;
            return;
        }
        if (!pa->active) {
            S.seq_errors++;   /* piece without a first */
            if (!audio)
                o->need_key = 1;
            return;
        }
        if (seq != (uint16_t)(pa->last_seq + 1)) {
            S.seq_errors++;
            drop_partial(o, pa, audio);
            return;
        }
        if (part_append(pa, body, blen) != 0) {
            S.oversize++;
            pa->active = 0;
            pa->len = 0;
            pa->discard = sub != 2;
            if (!audio)
                o->need_key = 1;
            return;
        }
        pa->last_seq = seq;
        if (sub == 2) {
            pa->active = 0;
            frame_done(c, o, audio, pa->dtype, pa->pt, pa->ts, pa->buf, pa->len);
            pa->len = 0;
        }
        return;
    }
}

static const uint8_t MAGIC[4] = { 0x30, 0x31, 0x63, 0x64 };

/* Parse as many complete packets as the buffer holds; keep the rest. */
static void parse_conn(struct conn *c)
{
    size_t pos = 0, len = c->len;
    const uint8_t *b = c->buf;
    int in_garbage = 0;
    while (len - pos >= 4) {
        const uint8_t *p = b + pos;
        size_t avail = len - pos;
        if (memcmp(p, MAGIC, 4) == 0) {
            if (avail < 16)
                break;
            uint8_t dtype = p[15] >> 4, sub = p[15] & 0x0F;
            if ((p[4] >> 6) != 2 || dtype > 4 || sub > 3) {
                /* impossible header: treat the magic as garbage */
                if (!in_garbage) { S.parse_errors++; in_garbage = 1; }
                S.resync_bytes++;
                pos++;
                continue;
            }
            size_t hl = dtype <= 2 ? 30 : dtype == 3 ? 26 : 18;
            if (avail < hl)
                break;
            size_t blen = be16(p + hl - 2);
            if (avail < hl + blen)
                break;
            in_garbage = 0;
            handle_packet(c, p, hl, blen);
            pos += hl + blen;
            continue;
        }
        /* resync: look for the next magic */
        if (!in_garbage) { S.parse_errors++; in_garbage = 1; }
        const uint8_t *m = memmem(p + 1, avail - 1, MAGIC, 4);
        size_t skip = m ? (size_t)(m - p) : avail - 3;
        S.resync_bytes += skip;
        pos += skip;
    }
    if (pos > 0) {
        memmove(c->buf, c->buf + pos, len - pos);
        c->len = len - pos;
    }
}

static void close_conn(int ep, struct conn *c)
{
    if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) != 0) {
        /* the fd is closed below anyway */
    }
    if (close(c->fd) != 0) {
        /* nothing to do */
    }
    for (size_t i = 0; i < c->nst; i++) {
        if (c->st[i]->video.active || c->st[i]->audio.active)
            S.incomplete += (uint64_t)(c->st[i]->video.active + c->st[i]->audio.active);
        free_stream(c->st[i]);
    }
    free(c->st);
    free(c->buf);
    if (c->prev)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    S.connections_open--;
}

/* returns 0 to keep, -1 when the connection was closed */
static int on_readable(int ep, struct conn *c)
{
    for (int rounds = 0; rounds < 4; rounds++) {
        if (c->cap - c->len < READ_MIN) {
            size_t nc = c->cap * 2;
            if (nc > CONN_BUF_MAX)
                nc = CONN_BUF_MAX;
            if (nc > c->cap) {
                uint8_t *nb = realloc(c->buf, nc);
                if (!nb) {
                    S.oom++;
                    close_conn(ep, c);
                    return -1;
                }
                c->buf = nb;
                c->cap = nc;
            }
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            close_conn(ep, c);
            return -1;
        }
        if (r == 0) {
            close_conn(ep, c);
            return -1;
        }
        S.bytes_in += (uint64_t)r;
        c->len += (size_t)r;
        parse_conn(c);
        if ((size_t)r < READ_MIN)
            return 0;
    }
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s --listen HOST:PORT --to HOST:PORT [--duration S] [--payload N] [--ssrc-base N]\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *listen_s = NULL, *to_s = NULL;
    double duration = 0.0;
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
        } else if (!strcmp(a, "--payload") && v) {
            long pl = strtol(v, &end, 10);
            if (!end || *end || pl < 188 || pl > 8192) { usage(argv[0]); return 1; }
            g_payload = (size_t)pl;
            i++;
        } else if (!strcmp(a, "--ssrc-base") && v) {
            errno = 0;
            unsigned long sb = strtoul(v, &end, 0);
            if (errno || !end || *end || sb > 0xFFFFFFFFUL) { usage(argv[0]); return 1; }
            g_ssrc_next = (uint32_t)sb;
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
    struct sockaddr_in la, ta;
    if (parse_addr(listen_s, &la, SOCK_STREAM) != 0) {
        fprintf(stderr, "jt1078-pipeline: bad --listen address '%s'\n", listen_s);
        return 1;
    }
    if (parse_addr(to_s, &ta, SOCK_DGRAM) != 0 || ta.sin_port == 0) {
        fprintf(stderr, "jt1078-pipeline: bad --to address '%s'\n", to_s);
        return 1;
    }
    crc_init();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("jt1078-pipeline: sigaction");
        return 2;
    }
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) {
        perror("jt1078-pipeline: sigaction");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            /* keep the soft limit */
        }
    }

    g_arena = malloc(ARENA_SIZE);
    if (!g_arena) { fprintf(stderr, "jt1078-pipeline: out of memory\n"); return 2; }

    g_ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (g_ufd < 0) { perror("jt1078-pipeline: socket"); return 2; }
    int sb = 8 * 1024 * 1024;
    set_buf(g_ufd, SO_SNDBUFFORCE, SO_SNDBUF, sb);
    if (connect(g_ufd, (struct sockaddr *)&ta, sizeof ta) != 0) {
        fprintf(stderr, "jt1078-pipeline: connect %s: %s\n", to_s, strerror(errno));
        return 2;
    }

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) { perror("jt1078-pipeline: socket"); return 2; }
    int one = 1;
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        perror("jt1078-pipeline: SO_REUSEADDR");
        return 2;
    }
    if (bind(lfd, (struct sockaddr *)&la, sizeof la) != 0) {
        fprintf(stderr, "jt1078-pipeline: bind %s: %s\n", listen_s, strerror(errno));
        return 2;
    }
    if (listen(lfd, 4096) != 0) { perror("jt1078-pipeline: listen"); return 2; }
    struct sockaddr_in bound;
    socklen_t bl = sizeof bound;
    if (getsockname(lfd, (struct sockaddr *)&bound, &bl) != 0) { perror("jt1078-pipeline: getsockname"); return 2; }
    char ip[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip))
        strcpy(ip, "?");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { perror("jt1078-pipeline: epoll_create1"); return 2; }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL; /* NULL = the listening socket */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) { perror("jt1078-pipeline: epoll_ctl"); return 2; }
    fprintf(stderr, "jt1078-pipeline: listening on %s:%u, RTP to %s\n", ip, (unsigned)ntohs(bound.sin_port), to_s);

    struct epoll_event events[MAX_EVENTS];
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
        int n = epoll_wait(ep, events, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("jt1078-pipeline: epoll_wait");
            rc = 2;
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                for (int k = 0; k < 64; k++) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) {
                        if (errno == EINTR)
                            continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
                            fprintf(stderr, "jt1078-pipeline: accept4: %s\n", strerror(errno));
                        break;
                    }
                    struct conn *nc = calloc(1, sizeof *nc);
                    uint8_t *buf = malloc(CONN_BUF_INIT);
                    if (!nc || !buf) {
                        free(nc);
                        free(buf);
                        S.oom++;
                        if (close(fd) != 0) { /* ignore */ }
                        continue;
                    }
                    nc->fd = fd;
                    nc->buf = buf;
                    nc->cap = CONN_BUF_INIT;
                    struct epoll_event cev;
                    memset(&cev, 0, sizeof cev);
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.ptr = nc;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) {
                        perror("jt1078-pipeline: epoll_ctl");
                        free(buf);
                        free(nc);
                        if (close(fd) != 0) { /* ignore */ }
                        continue;
                    }
                    nc->next = g_conns;
                    if (g_conns)
                        g_conns->prev = nc;
                    g_conns = nc;
                    S.connections++;
                    S.connections_open++;
                    if (S.connections_open > S.connections_max)
                        S.connections_max = S.connections_open;
                }
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                (void)on_readable(ep, c);
        }
        flush_batch();
    }
    flush_batch();
    double elapsed = now_s() - t0;
    uint64_t open_at_exit = S.connections_open;
    while (g_conns)
        close_conn(ep, g_conns);
    S.connections_open = open_at_exit;
    struct rusage ru;
    double cu = 0, cs = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        cu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        cs = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    uint64_t frames = S.video_frames + S.audio_frames;
    fprintf(stderr,
            "jt1078-pipeline: %.3f s, %llu connections, %llu JT1078 packets (%llu bytes), %llu frames "
            "(%llu video, %llu audio, %llu key), %llu RTP packets / %llu bytes out, %llu parse errors, "
            "%llu seq errors, %llu send errors, cpu %.3f user %.3f sys\n",
            elapsed, (unsigned long long)S.connections, (unsigned long long)S.packets_in,
            (unsigned long long)S.bytes_in, (unsigned long long)frames, (unsigned long long)S.video_frames,
            (unsigned long long)S.audio_frames, (unsigned long long)S.key_frames, (unsigned long long)S.rtp_out,
            (unsigned long long)S.bytes_out, (unsigned long long)S.parse_errors, (unsigned long long)S.seq_errors,
            (unsigned long long)S.send_errors, cu, cs);
    if (S.oom)
        fprintf(stderr, "jt1078-pipeline: %llu allocation failures\n", (unsigned long long)S.oom);
    printf("{\"tool\":\"jt1078-pipeline\",\"duration_s\":%.6f,\"connections\":%llu,\"connections_open\":%llu,"
           "\"connections_max\":%llu,\"streams\":%llu,\"packets_in\":%llu,\"bytes_in\":%llu,\"frames\":%llu,"
           "\"video_frames\":%llu,\"audio_frames\":%llu,\"key_frames\":%llu,\"rtp_packets_out\":%llu,"
           "\"bytes_out\":%llu,\"parse_errors\":%llu,\"resync_bytes\":%llu,\"seq_errors\":%llu,"
           "\"incomplete_frames\":%llu,\"skipped_wait_key\":%llu,\"unsupported\":%llu,\"transparent\":%llu,"
           "\"oversize\":%llu,\"send_errors\":%llu,\"send_calls\":%llu,\"pps_in\":%.1f,\"rtp_pps_out\":%.1f,"
           "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
           elapsed, (unsigned long long)S.connections, (unsigned long long)S.connections_open,
           (unsigned long long)S.connections_max, (unsigned long long)S.streams, (unsigned long long)S.packets_in,
           (unsigned long long)S.bytes_in, (unsigned long long)frames, (unsigned long long)S.video_frames,
           (unsigned long long)S.audio_frames, (unsigned long long)S.key_frames, (unsigned long long)S.rtp_out,
           (unsigned long long)S.bytes_out, (unsigned long long)S.parse_errors, (unsigned long long)S.resync_bytes,
           (unsigned long long)S.seq_errors, (unsigned long long)S.incomplete, (unsigned long long)S.skipped_wait_key,
           (unsigned long long)S.unsupported, (unsigned long long)S.transparent, (unsigned long long)S.oversize,
           (unsigned long long)S.send_errors, (unsigned long long)S.send_calls,
           elapsed > 0 ? (double)S.packets_in / elapsed : 0.0, elapsed > 0 ? (double)S.rtp_out / elapsed : 0.0,
           cu, cs);
    if (fflush(stdout) != 0)
        rc = 2;
    if (close(ep) != 0 && rc == 0)
        rc = 2;
    if (close(lfd) != 0 && rc == 0)
        rc = 2;
    if (close(g_ufd) != 0 && rc == 0)
        rc = 2;
    free(g_arena);
    return rc;
}
