/* The benchmark corpus: what a client receives from its server during a busy
 * session, generated from a seed so that every run sees the same bytes.
 *
 * Mix (of the stanzas after the session start): about 62% messages (chat with
 * bodies of ASCII, accented, CJK and emoji text with escaped characters, chat
 * states, receipts, delays, stanza-ids, threads, a few headlines and multi-language
 * bodies), 28% presences (show, status, priority, entity capabilities, delays,
 * unavailable) and 10% iqs (disco#info results, pings, roster pushes, empty results).
 */
#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic random numbers (SplitMix64) ------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A number in [0, n). */
static uint32_t below(rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32); }

/* True with probability pct/100. */
static int chance(rng *r, uint32_t pct) { return below(r, 100) < pct; }

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, a) ((a)[below((r), (uint32_t)COUNT(a))])

/* ---- output buffer ------------------------------------------------------------ */

static int grow(bench_corpus *c, size_t extra)
{
    if (c->cap - c->len > extra)
        return 0;
    size_t ncap = c->cap ? c->cap : 1u << 16;
    while (ncap - c->len <= extra)
        ncap *= 2;
    char *n = realloc(c->data, ncap);
    if (!n)
        return -1;
    c->data = n;
    c->cap = ncap;
    return 0;
}

typedef struct out {
    bench_corpus *c;
    int failed;
} out;

static void putn(out *o, const char *s, size_t n)
{
    if (o->failed || grow(o->c, n + 1)) {
        o->failed = 1;
        return;
    }
    memcpy(o->c->data + o->c->len, s, n);
    o->c->len += n;
    o->c->data[o->c->len] = '\0';
}

static void put(out *o, const char *s) { putn(o, s, strlen(s)); }

static void putu(out *o, unsigned long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%llu", v);
    putn(o, b, (size_t)n);
}

static void puti(out *o, long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%ld", v);
    putn(o, b, (size_t)n);
}

static void puthex(out *o, rng *r, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    char b[64];
    for (size_t i = 0; i < digits && i < sizeof b; i++)
        b[i] = hex[below(r, 16)];
    putn(o, b, digits < sizeof b ? digits : sizeof b);
}

static void putb64(out *o, rng *r, size_t chars)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char b[64];
    for (size_t i = 0; i < chars && i < sizeof b; i++)
        b[i] = b64[below(r, 64)];
    putn(o, b, chars < sizeof b ? chars : sizeof b);
}

/* ---- vocabulary ----------------------------------------------------------------- */

static const char *const ascii_words[] = {
    "hello", "meeting", "tomorrow", "at", "the", "office", "can", "you", "send", "me", "report", "please",
    "thanks", "see", "later", "lunch", "deploy", "build", "is", "green", "again", "coffee", "review", "branch",
    "merge", "weekend", "train", "delayed", "ok", "sure", "maybe", "ping", "call", "now", "minutes", "agenda",
    "notes", "bug", "fixed", "release", "I", "think", "we", "should", "ship", "it", "today", "what", "about",
    "the", "a", "and", "to", "of", "in", "for", "on", "with", "this", "that", "just", "got", "home", "lol",
};
static const char *const accented_words[] = {
    "café", "naïve", "über", "Zürich", "señor", "déjà", "vu", "garçon", "Ångström", "smörgåsbord", "façade",
    "crème", "brûlée", "jalapeño", "Straße", "Kraków", "Øresund", "résumé", "São", "Paulo", "Málaga",
    "Łódź", "Dvořák", "Grüße", "später", "très", "bientôt", "mañana", "ça", "où",
};
static const char *const cjk_words[] = {
    "你好", "世界", "会議", "東京", "明日", "ありがとう", "こんにちは", "了解", "大丈夫", "한국어",
    "안녕하세요", "감사합니다", "今天", "开会", "新しい", "谢谢", "晚上", "見て", "すごい", "회의",
};
static const char *const emoji[] = {
    "😀", "🎉", "👍", "🚀", "❤️", "🙂", "🔥", "☕", "😂", "🤔", "✅", "🍕", "👋", "🙏", "😅", "🇫🇷",
};
static const char *const escaped[] = {
    "Tom &amp; Jerry", "a &lt; b", "x &gt; y", "R&amp;D", "&lt;3", "AT&amp;T", "if (a &lt; b &amp;&amp; c)",
    "fish &amp; chips", "&lt;br/&gt;", "5 &gt; 3",
};
static const char *const first_names[] = {
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
    "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoe", "müller", "josé", "chloé",
};
static const char *const display_first[] = {
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Zoë", "José",
    "Chloé", "Ana María", "Søren", "田中", "李", "Ольга", "Håkon", "Renée",
};
static const char *const display_last[] = {
    "Martin", "Smith", "Faure", "Álvarez", "Nguyen", "太郎", "小龙", "Müller", "O'Neil", "Kowalski",
    "Jensen", "Иванова", "García", "Rossi", "Dubois",
};
static const char *const domains[] = {
    "example.com", "example.net", "jabber.org", "chat.example.org", "im.example.de", "xmpp.example.jp",
};
static const char *const resources[] = {
    "phone", "laptop", "Gajim", "Conversations.x7Hk", "desk", "dino-4f2a", "tablet", "work",
};
static const char *const groups[] = {
    "Friends", "Family", "Work", "R&amp;D", "Book club", "Colleagues", "家族", "Sport ⚽", "Old school",
    "Neighbours",
};
static const char *const shows[] = { "away", "xa", "dnd", "chat" };
static const char *const subscriptions[] = { "both", "both", "both", "to", "from", "none" };
static const char *const caps_nodes[] = {
    "https://gajim.org", "http://conversations.im", "https://dino.im", "https://psi-im.org",
    "http://pidgin.im/", "https://monal-im.org",
};
static const char *const client_names[] = { "Gajim", "Conversations", "Dino", "Psi", "Pidgin", "Monal" };
static const char *const disco_features[] = {
    "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items", "urn:xmpp:ping",
    "jabber:iq:version", "urn:xmpp:time", "http://jabber.org/protocol/caps", "urn:xmpp:receipts",
    "http://jabber.org/protocol/chatstates", "urn:xmpp:carbons:2", "urn:xmpp:mam:2", "urn:xmpp:sid:0",
    "urn:xmpp:blocking", "vcard-temp", "jabber:iq:roster", "urn:xmpp:http:upload:0",
    "http://jabber.org/protocol/muc", "urn:xmpp:message-correct:0", "urn:xmpp:avatar:metadata+notify",
    "urn:xmpp:bookmarks:1+notify", "eu.siacs.conversations.axolotl.devicelist+notify", "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1", "urn:xmpp:hints", "jabber:iq:last", "http://jabber.org/protocol/nick+notify",
};
static const char *const chat_states[] = { "active", "composing", "paused", "inactive", "gone" };

#define ME "me@example.net/desk"
#define SERVER "example.net"

/* ---- pieces --------------------------------------------------------------------- */

/* Bare JID of contact number i (stable across the corpus). */
static void put_contact(out *o, uint32_t i)
{
    put(o, first_names[i % COUNT(first_names)]);
    putu(o, i);
    put(o, "@");
    put(o, domains[(i / 7) % COUNT(domains)]);
}

static void put_full(out *o, rng *r, uint32_t i)
{
    put_contact(o, i);
    put(o, "/");
    put(o, PICK(r, resources));
}

static void put_words(out *o, rng *r, uint32_t nwords)
{
    for (uint32_t w = 0; w < nwords; w++) {
        if (w)
            put(o, " ");
        uint32_t p = below(r, 100);
        if (p < 60)
            put(o, PICK(r, ascii_words));
        else if (p < 75)
            put(o, PICK(r, accented_words));
        else if (p < 87)
            put(o, PICK(r, cjk_words));
        else if (p < 95)
            put(o, PICK(r, emoji));
        else
            put(o, PICK(r, escaped));
    }
}

/* Words in a body: mostly short, some paragraphs. */
static uint32_t body_words(rng *r)
{
    uint32_t p = below(r, 100);
    if (p < 60)
        return 1 + below(r, 8);
    if (p < 95)
        return 9 + below(r, 32);
    return 41 + below(r, 160);
}

static void put_stamp(out *o, rng *r)
{
    char b[64];
    int n = snprintf(b, sizeof b, "2024-%02u-%02uT%02u:%02u:%02u.%03uZ", 1 + below(r, 12), 1 + below(r, 28),
                     below(r, 24), below(r, 60), below(r, 60), below(r, 1000));
    putn(o, b, (size_t)n);
}

static void put_delay(out *o, rng *r, const char *text)
{
    put(o, "<delay xmlns='urn:xmpp:delay' from='" SERVER "' stamp='");
    put_stamp(o, r);
    if (text) {
        put(o, "'>");
        put(o, text);
        put(o, "</delay>");
    } else {
        put(o, "'/>");
    }
}

static void put_roster_item(out *o, rng *r, uint32_t i)
{
    put(o, "<item jid='");
    put_contact(o, i);
    put(o, "'");
    if (chance(r, 90)) {
        put(o, " name='");
        put(o, PICK(r, display_first));
        put(o, " ");
        const char *last = PICK(r, display_last);
        /* the apostrophe of O'Neil must be escaped inside a single-quoted value */
        put(o, strcmp(last, "O'Neil") == 0 ? "O&apos;Neil" : last);
        put(o, "'");
    }
    put(o, " subscription='");
    put(o, PICK(r, subscriptions));
    put(o, "'");
    if (chance(r, 3))
        put(o, " ask='subscribe'");
    uint32_t ng = below(r, 100) < 20 ? 0 : 1 + below(r, 3);
    if (!ng) {
        put(o, "/>");
        return;
    }
    put(o, ">");
    uint32_t g0 = below(r, (uint32_t)COUNT(groups));
    for (uint32_t g = 0; g < ng; g++) {
        put(o, "<group>");
        put(o, groups[(g0 + g * 3) % COUNT(groups)]); /* distinct groups */
        put(o, "</group>");
    }
    put(o, "</item>");
}

static void put_roster_result(out *o, rng *r, uint32_t items)
{
    put(o, "<iq type='result' id='roster-1' to='" ME "'><query xmlns='jabber:iq:roster' ver='ver");
    putu(o, items);
    put(o, "'>");
    for (uint32_t i = 0; i < items; i++)
        put_roster_item(o, r, i);
    put(o, "</query></iq>");
}

static void put_header(out *o, rng *r)
{
    put(o, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams' from='" SERVER "' id='");
    puthex(o, r, 16);
    put(o, "' to='me@example.net' version='1.0' xml:lang='en'>");
}

static void put_features(out *o)
{
    put(o, "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
           "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"
           "<ver xmlns='urn:xmpp:features:rosterver'/><sm xmlns='urn:xmpp:sm:3'/>"
           "<csi xmlns='urn:xmpp:csi:0'/></stream:features>");
}

/* ---- stanzas ---------------------------------------------------------------------- */

static void gen_message(out *o, rng *r, uint32_t contacts, uint64_t n)
{
    uint32_t who = below(r, contacts);
    uint32_t p = below(r, 100);
    if (p < 15) { /* a chat state notification alone */
        put(o, "<message from='");
        put_full(o, r, who);
        put(o, "' to='" ME "' type='chat' id='cs-");
        putu(o, n);
        put(o, "'><");
        put(o, PICK(r, chat_states));
        put(o, " xmlns='http://jabber.org/protocol/chatstates'/></message>");
        return;
    }
    if (p < 25) { /* a delivery receipt */
        put(o, "<message from='");
        put_full(o, r, who);
        put(o, "' to='" ME "' id='rc-");
        putu(o, n);
        put(o, "'><received xmlns='urn:xmpp:receipts' id='msg-");
        puthex(o, r, 12);
        put(o, "'/></message>");
        return;
    }
    if (p < 27) { /* a headline from a service */
        put(o, "<message from='news." SERVER "' to='" ME "' type='headline' id='hl-");
        putu(o, n);
        put(o, "'><subject>");
        put_words(o, r, 3 + below(r, 6));
        put(o, "</subject><body>");
        put_words(o, r, 20 + below(r, 60));
        put(o, "</body></message>");
        return;
    }
    int multi = p < 29;
    put(o, "<message from='");
    put_full(o, r, who);
    put(o, "' to='" ME "' type='chat' id='msg-");
    puthex(o, r, 12);
    put(o, "'");
    if (multi)
        put(o, " xml:lang='en'");
    put(o, "><body>");
    put_words(o, r, body_words(r));
    put(o, "</body>");
    if (multi) {
        put(o, "<body xml:lang='de'>");
        put_words(o, r, body_words(r));
        put(o, "</body>");
    }
    if (chance(r, 10)) {
        put(o, "<thread>");
        puthex(o, r, 24);
        put(o, "</thread>");
    }
    if (chance(r, 55))
        put(o, "<active xmlns='http://jabber.org/protocol/chatstates'/>");
    if (chance(r, 35))
        put(o, "<request xmlns='urn:xmpp:receipts'/>");
    if (chance(r, 10))
        put_delay(o, r, chance(r, 50) ? "Offline Storage" : NULL);
    if (chance(r, 45)) {
        put(o, "<stanza-id xmlns='urn:xmpp:sid:0' id='");
        puthex(o, r, 8);
        put(o, "-");
        puthex(o, r, 4);
        put(o, "-4");
        puthex(o, r, 3);
        put(o, "-a");
        puthex(o, r, 3);
        put(o, "-");
        puthex(o, r, 12);
        put(o, "' by='me@example.net'/>");
    }
    put(o, "</message>");
}

static void gen_presence(out *o, rng *r, uint32_t contacts, uint64_t n)
{
    uint32_t who = below(r, contacts);
    uint32_t p = below(r, 100);
    put(o, "<presence from='");
    put_full(o, r, who);
    put(o, "' to='" ME "'");
    if (p < 15) {
        put(o, " type='unavailable'");
        if (chance(r, 30)) {
            put(o, "><status>");
            put_words(o, r, 1 + below(r, 5));
            put(o, "</status></presence>");
        } else {
            put(o, "/>");
        }
        return;
    }
    if (p < 16) {
        put(o, " type='subscribe' id='sub-");
        putu(o, n);
        put(o, "'/>");
        return;
    }
    if (chance(r, 20)) {
        put(o, " id='pr-");
        putu(o, n);
        put(o, "'");
    }
    put(o, ">");
    if (chance(r, 50)) {
        put(o, "<show>");
        put(o, PICK(r, shows));
        put(o, "</show>");
    }
    if (chance(r, 50)) {
        put(o, "<status>");
        put_words(o, r, 1 + below(r, 10));
        put(o, "</status>");
    }
    if (chance(r, 70)) {
        put(o, "<priority>");
        puti(o, (long)below(r, 52) - 1);
        put(o, "</priority>");
    }
    if (chance(r, 80)) {
        uint32_t c = below(r, (uint32_t)COUNT(caps_nodes));
        put(o, "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='");
        put(o, caps_nodes[c]);
        put(o, "' ver='");
        putb64(o, r, 27);
        put(o, "='/>");
    }
    if (chance(r, 10))
        put_delay(o, r, NULL);
    put(o, "</presence>");
}

static void put_disco_info(out *o, rng *r, int server)
{
    put(o, "<query xmlns='http://jabber.org/protocol/disco#info'");
    uint32_t c = below(r, (uint32_t)COUNT(caps_nodes));
    if (!server) {
        put(o, " node='");
        put(o, caps_nodes[c]);
        put(o, "#");
        putb64(o, r, 27);
        put(o, "='");
    }
    put(o, ">");
    if (server) {
        put(o, "<identity category='server' type='im' name='Prosody'/>"
               "<identity category='pubsub' type='pep'/>");
    } else {
        put(o, "<identity category='client' type='");
        put(o, chance(r, 50) ? "pc" : "phone");
        put(o, "' name='");
        put(o, client_names[c]);
        put(o, "'/>");
        if (chance(r, 20)) {
            put(o, "<identity category='client' type='pc' name='");
            put(o, client_names[c]);
            put(o, " (日本語)' xml:lang='ja'/>");
        }
    }
    for (size_t i = 0; i < COUNT(disco_features); i++) {
        if (!chance(r, 60))
            continue;
        put(o, "<feature var='");
        put(o, disco_features[i]);
        put(o, "'/>");
    }
    put(o, "</query>");
}

static void gen_iq(out *o, rng *r, uint32_t contacts, uint64_t n)
{
    uint32_t who = below(r, contacts);
    uint32_t p = below(r, 100);
    if (p < 40) {
        put(o, "<iq from='");
        put_full(o, r, who);
        put(o, "' to='" ME "' id='disco-");
        putu(o, n);
        put(o, "' type='result'>");
        put_disco_info(o, r, 0);
        put(o, "</iq>");
    } else if (p < 70) {
        put(o, "<iq from='" SERVER "' to='" ME "' id='ping-");
        putu(o, n);
        put(o, "' type='get'><ping xmlns='urn:xmpp:ping'/></iq>");
    } else if (p < 85) {
        put(o, "<iq to='" ME "' id='push-");
        putu(o, n);
        put(o, "' type='set'><query xmlns='jabber:iq:roster' ver='ver");
        putu(o, n);
        put(o, "'>");
        put_roster_item(o, r, below(r, contacts + contacts / 10 + 1));
        put(o, "</query></iq>");
    } else {
        put(o, "<iq from='");
        put_full(o, r, who);
        put(o, "' to='" ME "' id='res-");
        putu(o, n);
        put(o, "' type='result'/>");
    }
}

/* ---- spans ------------------------------------------------------------------------ */

static const char *skip_to(const char *p, const char *end, const char *pat)
{
    size_t n = strlen(pat);
    for (; p + n <= end; p++)
        if (memcmp(p, pat, n) == 0)
            return p + n;
    return end;
}

static int kind_of(const char *name, const char *end)
{
    const char *q = name;
    while (q < end && *q != ' ' && *q != '>' && *q != '/' && *q != '\t' && *q != '\n' && *q != '\r')
        q++;
    const char *colon = memchr(name, ':', (size_t)(q - name));
    if (colon)
        name = colon + 1;
    size_t n = (size_t)(q - name);
    if (n == 7 && memcmp(name, "message", 7) == 0)
        return BENCH_MESSAGE;
    if (n == 8 && memcmp(name, "presence", 8) == 0)
        return BENCH_PRESENCE;
    if (n == 2 && memcmp(name, "iq", 2) == 0)
        return BENCH_IQ;
    return BENCH_OTHER;
}

/* Records one top-level element; -1 when memory runs out. */
static int add_span(bench_corpus *c, size_t *cap, ptrdiff_t off, ptrdiff_t len, int kind)
{
    if (c->nspans == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        bench_span *n = realloc(c->spans, ncap * sizeof *n);
        if (!n)
            return -1;
        c->spans = n;
        *cap = ncap;
    }
    bench_span *s = &c->spans[c->nspans++];
    s->off = (size_t)off;
    s->len = (size_t)len;
    s->kind = kind;
    c->kinds[kind]++;
    return 0;
}

/* Finds the top-level elements (children of the stream element) of a well-formed stream. */
static int find_spans(bench_corpus *c)
{
    const char *d = c->data, *end = c->data + c->len, *p = d;
    size_t depth = 0, cap = 0;
    const char *start = NULL;
    c->nspans = 0;
    c->header_len = 0;
    c->close_off = c->len;
    memset(c->kinds, 0, sizeof c->kinds);
    while (p < end) {
        if (*p != '<') {
            p++;
            continue;
        }
        if (end - p >= 2 && p[1] == '?') {
            p = skip_to(p, end, "?>");
            continue;
        }
        if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            p = skip_to(p, end, "-->");
            continue;
        }
        if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            p = skip_to(p, end, "]]>");
            continue;
        }
        const char *tag = p;
        char quote = 0;
        for (p++; p < end; p++) {
            if (quote) {
                if (*p == quote)
                    quote = 0;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '>') {
                break;
            }
        }
        if (p >= end)
            break;
        p++; /* past '>' */
        if (tag[1] == '/') {
            if (depth == 0)
                return -2;
            depth--;
            if (depth == 0) {
                c->close_off = (size_t)(tag - d);
                break;
            }
            if (depth == 1 && add_span(c, &cap, start - d, p - start, kind_of(start + 1, end)))
                return -1;
            continue;
        }
        int self_closing = p[-2] == '/';
        if (depth == 0) {
            if (kind_of(tag + 1, end) != BENCH_OTHER)
                return -2;
            c->header_len = (size_t)(p - d);
        }
        if (depth == 1)
            start = tag;
        if (self_closing && depth == 1) {
            if (add_span(c, &cap, start - d, p - start, kind_of(start + 1, end)))
                return -1;
        } else if (!self_closing) {
            depth++;
        }
    }
    return c->header_len ? 0 : -2;
}

/* ---- public --------------------------------------------------------------------- */

int bench_corpus_generate(bench_corpus *c, size_t target, size_t roster_items, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    rng r = { seed };
    out o = { c, 0 };
    if (grow(c, target + 4096))
        return -1;
    put_header(&o, &r);
    put_features(&o);
    put(&o, "\n<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>" ME
            "</jid></bind></iq>\n<iq type='result' id='sess-1'/>\n");
    uint32_t contacts = roster_items ? (uint32_t)roster_items : 1;
    put_roster_result(&o, &r, (uint32_t)roster_items);
    put(&o, "\n<iq from='" SERVER "' to='" ME "' id='disco-0' type='result'>");
    put_disco_info(&o, &r, 1);
    put(&o, "</iq>\n");
    static const char close_tag[] = "</stream:stream>";
    uint64_t n = 0;
    while (!o.failed && c->len + sizeof close_tag < target) {
        uint32_t p = below(&r, 100);
        if (p < 62)
            gen_message(&o, &r, contacts, n);
        else if (p < 90)
            gen_presence(&o, &r, contacts, n);
        else
            gen_iq(&o, &r, contacts, n);
        put(&o, "\n");
        n++;
    }
    put(&o, close_tag);
    if (o.failed)
        return -1;
    int rc = find_spans(c);
    c->roster_items = roster_items;
    return rc;
}

int bench_corpus_roster(bench_corpus *c, size_t items, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    rng r = { seed };
    out o = { c, 0 };
    put_header(&o, &r);
    put_roster_result(&o, &r, (uint32_t)items);
    put(&o, "</stream:stream>");
    if (o.failed)
        return -1;
    int rc = find_spans(c);
    c->roster_items = items;
    return rc;
}

int bench_corpus_load(bench_corpus *c, const char *path)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[1 << 16];
    size_t n;
    out o = { c, 0 };
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        putn(&o, buf, n);
    int err = ferror(f);
    fclose(f);
    if (err || o.failed) {
        errno = err ? EIO : ENOMEM;
        return -1;
    }
    if (!c->data)
        return -2;
    return find_spans(c);
}

int bench_corpus_write(const bench_corpus *c, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(c->data, 1, c->len, f);
    int rc = fclose(f);
    if (w != c->len || rc != 0)
        return -1;
    return 0;
}

void bench_corpus_free(bench_corpus *c)
{
    free(c->data);
    free(c->spans);
    memset(c, 0, sizeof *c);
}
