/* What the benchmark does with typed stanzas: read every field into a checksum,
 * as an application would, so that nothing the parser produces goes unused. */
#ifndef PXMPP_BENCH_TYPED_H
#define PXMPP_BENCH_TYPED_H

#include <stdint.h>

#include <pxmpp/gen/all.h>
#include <pxmpp/types.h>

/* Each reads every field of the stanza (string lengths, enums, integers, lists,
   payloads, unknown elements) and folds them into a checksum. */
uint64_t bench_sum_message(const pxmpp_message *m);
uint64_t bench_sum_presence(const pxmpp_presence *p);
uint64_t bench_sum_iq(const pxmpp_iq *iq);
uint64_t bench_sum_features(const pxmpp_stream_features *f);
/* Any typed element, through its descriptor. */
uint64_t bench_sum_typed(const pxmpp_type_desc *d, const void *obj);

#endif
