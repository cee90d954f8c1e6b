/* RFC 6121's subscription state machine (Appendix A) and message delivery rules (§8.5) as
 * pure functions over tables. */
#include <pxmpp/server.h>

#include <string.h>

/* The 9 states of Appendix A, in the order of its tables. */
enum { N = 0, N_O, N_I, N_OI, T, T_I, F, F_O, B, NSTATES };

static const pxmpp_sub_state bits_of[NSTATES] = {
    [N] = PXMPP_SUB_NONE,
    [N_O] = PXMPP_SUB_PENDING_OUT,
    [N_I] = PXMPP_SUB_PENDING_IN,
    [N_OI] = PXMPP_SUB_PENDING_OUT | PXMPP_SUB_PENDING_IN,
    [T] = PXMPP_SUB_TO,
    [T_I] = PXMPP_SUB_TO | PXMPP_SUB_PENDING_IN,
    [F] = PXMPP_SUB_FROM,
    [F_O] = PXMPP_SUB_FROM | PXMPP_SUB_PENDING_OUT,
    [B] = PXMPP_SUB_BOTH,
};

/* One row of a table: the new state and whether the stanza is delivered. */
typedef struct row {
    unsigned char next;
    bool deliver;
} row;

/* Appendix A.2 (outbound, the user's server).  The stanza goes on to the contact for every
   subscribe and unsubscribe (§3.1.2, §3.3.2); subscribed and unsubscribed only when they
   change the state (§3.1.5, §3.2.2): otherwise there is nothing to answer. */
static const row out_subscribe[NSTATES] = {
    [N] = { N_O, true }, [N_O] = { N_O, true }, [N_I] = { N_OI, true }, [N_OI] = { N_OI, true },
    [T] = { T, true },   [T_I] = { T_I, true }, [F] = { F_O, true },    [F_O] = { F_O, true }, [B] = { B, true },
};
static const row out_unsubscribe[NSTATES] = {
    [N] = { N, true },   [N_O] = { N, true }, [N_I] = { N_I, true }, [N_OI] = { N_I, true },
    [T] = { N, true },   [T_I] = { N_I, true }, [F] = { F, true },   [F_O] = { F, true }, [B] = { F, true },
};
static const row out_subscribed[NSTATES] = {
    [N] = { N, false },  [N_O] = { N_O, false }, [N_I] = { F, true },  [N_OI] = { F_O, true },
    [T] = { T, false },  [T_I] = { B, true },    [F] = { F, false },   [F_O] = { F_O, false }, [B] = { B, false },
};
static const row out_unsubscribed[NSTATES] = {
    [N] = { N, false },  [N_O] = { N_O, false }, [N_I] = { N, true },  [N_OI] = { N_O, true },
    [T] = { T, false },  [T_I] = { T, true },    [F] = { N, true },    [F_O] = { N_O, true }, [B] = { T, true },
};

/* Appendix A.3 (inbound, the server of the addressed account), with its "Deliver?" column. */
static const row in_subscribe[NSTATES] = {
    [N] = { N_I, true },  [N_O] = { N_OI, true }, [N_I] = { N_I, false }, [N_OI] = { N_OI, false },
    [T] = { T_I, true },  [T_I] = { T_I, false }, [F] = { F, false },     [F_O] = { F_O, false }, [B] = { B, false },
};
static const row in_unsubscribe[NSTATES] = {
    [N] = { N, false },  [N_O] = { N_O, false }, [N_I] = { N, true },  [N_OI] = { N_O, true },
    [T] = { T, false },  [T_I] = { T, true },    [F] = { N, true },    [F_O] = { N_O, true }, [B] = { T, true },
};
static const row in_subscribed[NSTATES] = {
    [N] = { N, false },  [N_O] = { T, true },    [N_I] = { N_I, false }, [N_OI] = { T_I, true },
    [T] = { T, false },  [T_I] = { T_I, false }, [F] = { F, false },     [F_O] = { B, true }, [B] = { B, false },
};
static const row in_unsubscribed[NSTATES] = {
    [N] = { N, false },  [N_O] = { N, true },    [N_I] = { N_I, false }, [N_OI] = { N_I, true },
    [T] = { N, true },   [T_I] = { N_I, true },  [F] = { F, false },     [F_O] = { F, true }, [B] = { F, true },
};

static int index_of(pxmpp_sub_state s)
{
    for (int i = 0; i < NSTATES; i++)
        if (bits_of[i] == s)
            return i;
    return -1;
}

bool pxmpp_sub_valid(pxmpp_sub_state s)
{
    unsigned approved = s & PXMPP_SUB_APPROVED;
    if (approved && (s & (PXMPP_SUB_FROM | PXMPP_SUB_PENDING_IN)))
        return false;
    return index_of((pxmpp_sub_state)(s & ~PXMPP_SUB_APPROVED)) >= 0;
}

/* What a roster push shows of a state: subscription, ask (pending out), approved. */
static unsigned visible(pxmpp_sub_state s) { return s & ~(unsigned)PXMPP_SUB_PENDING_IN; }

static void set(bool *p, bool v)
{
    if (p)
        *p = v;
}

pxmpp_sub_state pxmpp_sub_outbound(pxmpp_sub_state s, pxmpp_presence_type t, bool *deliver, bool *push)
{
    set(deliver, false);
    set(push, false);
    if (!pxmpp_sub_valid(s))
        return s;
    const row *table;
    switch (t) {
    case PXMPP_PRESENCE_TYPE_SUBSCRIBE: table = out_subscribe; break;
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBE: table = out_unsubscribe; break;
    case PXMPP_PRESENCE_TYPE_SUBSCRIBED: table = out_subscribed; break;
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBED: table = out_unsubscribed; break;
    default: return s;
    }
    unsigned approved = s & PXMPP_SUB_APPROVED;
    const row *r = &table[index_of((pxmpp_sub_state)(s & ~PXMPP_SUB_APPROVED))];
    unsigned next = bits_of[r->next];
    if (t == PXMPP_PRESENCE_TYPE_SUBSCRIBED && !r->deliver && !(next & PXMPP_SUB_FROM))
        approved = PXMPP_SUB_APPROVED; /* §3.4: a pre-approval */
    else if (t == PXMPP_PRESENCE_TYPE_UNSUBSCRIBED || (next & PXMPP_SUB_FROM))
        approved = 0; /* revoked, or used up */
    next |= approved;
    set(deliver, r->deliver);
    set(push, visible((pxmpp_sub_state)next) != visible(s));
    return (pxmpp_sub_state)next;
}

pxmpp_sub_state pxmpp_sub_inbound(pxmpp_sub_state s, pxmpp_presence_type t, bool *deliver, bool *push,
                                  bool *auto_reply)
{
    set(deliver, false);
    set(push, false);
    set(auto_reply, false);
    if (!pxmpp_sub_valid(s))
        return s;
    const row *table;
    switch (t) {
    case PXMPP_PRESENCE_TYPE_SUBSCRIBE: table = in_subscribe; break;
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBE: table = in_unsubscribe; break;
    case PXMPP_PRESENCE_TYPE_SUBSCRIBED: table = in_subscribed; break;
    case PXMPP_PRESENCE_TYPE_UNSUBSCRIBED: table = in_unsubscribed; break;
    default: return s;
    }
    unsigned approved = s & PXMPP_SUB_APPROVED;
    unsigned base = s & ~(unsigned)PXMPP_SUB_APPROVED;
    if (t == PXMPP_PRESENCE_TYPE_SUBSCRIBE && ((base & PXMPP_SUB_FROM) || approved)) {
        /* §3.1.3: already subscribed, or pre-approved (§3.4): answer subscribed, no delivery */
        unsigned next = base | PXMPP_SUB_FROM;
        set(auto_reply, true);
        set(push, visible((pxmpp_sub_state)next) != visible(s));
        return (pxmpp_sub_state)next;
    }
    const row *r = &table[index_of((pxmpp_sub_state)base)];
    unsigned next = bits_of[r->next] | approved;
    set(deliver, r->deliver);
    set(push, visible((pxmpp_sub_state)next) != visible(s));
    return (pxmpp_sub_state)next;
}

pxmpp_roster_subscription pxmpp_sub_roster_subscription(pxmpp_sub_state s)
{
    switch (s & PXMPP_SUB_BOTH) {
    case PXMPP_SUB_TO: return PXMPP_ROSTER_SUBSCRIPTION_TO;
    case PXMPP_SUB_FROM: return PXMPP_ROSTER_SUBSCRIPTION_FROM;
    case PXMPP_SUB_BOTH: return PXMPP_ROSTER_SUBSCRIPTION_BOTH;
    default: return PXMPP_ROSTER_SUBSCRIPTION_NONE;
    }
}

void pxmpp_sub_to_item(pxmpp_sub_state s, pxmpp_roster_item *item)
{
    if (!item)
        return;
    item->subscription = pxmpp_sub_roster_subscription(s);
    item->ask = (s & PXMPP_SUB_PENDING_OUT) ? PXMPP_ROSTER_ASK_SUBSCRIBE : PXMPP_ROSTER_ASK_ABSENT;
    item->approved = (s & PXMPP_SUB_APPROVED) != 0;
}

pxmpp_sub_state pxmpp_sub_from_item(const pxmpp_roster_item *item, bool pending_in)
{
    if (!item)
        return PXMPP_SUB_NONE;
    unsigned s = 0;
    switch (item->subscription) {
    case PXMPP_ROSTER_SUBSCRIPTION_TO: s = PXMPP_SUB_TO; break;
    case PXMPP_ROSTER_SUBSCRIPTION_FROM: s = PXMPP_SUB_FROM; break;
    case PXMPP_ROSTER_SUBSCRIPTION_BOTH: s = PXMPP_SUB_BOTH; break;
    default: break;
    }
    if (item->ask == PXMPP_ROSTER_ASK_SUBSCRIBE && !(s & PXMPP_SUB_TO))
        s |= PXMPP_SUB_PENDING_OUT;
    if (pending_in && !(s & PXMPP_SUB_FROM))
        s |= PXMPP_SUB_PENDING_IN;
    if (item->approved && !(s & (PXMPP_SUB_FROM | PXMPP_SUB_PENDING_IN)))
        s |= PXMPP_SUB_APPROVED;
    return (pxmpp_sub_state)s;
}

/* ---- RFC 6121 §8.5 ------------------------------------------------------------------- */

/* Marks the available resources of non-negative priority: all of them, or (@p best_only)
   those of the highest priority.  Returns how many were marked. */
static size_t mark_available(const pxmpp_resource_info *res, size_t n, bool best_only, bool *targets)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (res[i].available && res[i].priority >= 0 && res[i].priority > best)
            best = res[i].priority;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (res[i].available && res[i].priority >= 0 && (!best_only || res[i].priority == best)) {
            targets[i] = true;
            k++;
        }
    return k;
}

static pxmpp_delivery to_bare(pxmpp_message_type type, const pxmpp_resource_info *res, size_t n, bool offline,
                              bool *targets)
{
    switch (type) {
    case PXMPP_MESSAGE_TYPE_GROUPCHAT: return PXMPP_BOUNCE;
    case PXMPP_MESSAGE_TYPE_ERROR: return PXMPP_DROP;
    case PXMPP_MESSAGE_TYPE_HEADLINE: return mark_available(res, n, false, targets) ? PXMPP_DELIVER : PXMPP_DROP;
    default: /* normal (or absent), chat */
        if (mark_available(res, n, true, targets))
            return PXMPP_DELIVER;
        return offline ? PXMPP_OFFLINE : PXMPP_BOUNCE;
    }
}

pxmpp_delivery pxmpp_message_delivery(pxmpp_message_type type, const char *resource, bool exists,
                                      const pxmpp_resource_info *res, size_t n, bool offline, bool *targets)
{
    if (n > 0 && (!res || !targets))
        return PXMPP_DROP;
    for (size_t i = 0; i < n; i++)
        targets[i] = false;
    if (!exists) /* §8.5.1 */
        return type == PXMPP_MESSAGE_TYPE_ERROR ? PXMPP_DROP : PXMPP_BOUNCE;
    if (!resource)
        return to_bare(type, res, n, offline, targets);
    for (size_t i = 0; i < n; i++)
        if (res[i].resource && strcmp(res[i].resource, resource) == 0) {
            targets[i] = true; /* §8.5.3.1 */
            return PXMPP_DELIVER;
        }
    switch (type) { /* §8.5.3.2.1 */
    case PXMPP_MESSAGE_TYPE_GROUPCHAT: return PXMPP_BOUNCE;
    case PXMPP_MESSAGE_TYPE_HEADLINE:
    case PXMPP_MESSAGE_TYPE_ERROR: return PXMPP_DROP;
    default: return to_bare(type, res, n, offline, targets);
    }
}
