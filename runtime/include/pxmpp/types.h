/**
 * @file types.h
 * @brief The data model shared by the runtime and the generated stanza types.
 *
 * Every generated struct (pxmpp_message, pxmpp_roster_item, ...) starts with a
 * pxmpp_meta member named `meta`.  It keeps what the typed fields cannot hold, so
 * that nothing of a parsed element is lost: attributes and child elements the
 * schema does not describe (in document order), and the order in which the
 * children appeared.  An application that builds a stanza from scratch leaves
 * `meta` zeroed.
 *
 * Ownership: every pointer inside a parsed stanza points into the stanza's
 * arena.  A stanza passed to a callback is borrowed for the duration of the
 * call; copy what you need (or use pxmpp_arena_* on your own arena) to keep it.
 */
#ifndef PXMPP_TYPES_H
#define PXMPP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Runtime ABI version.  Generated code refuses to compile against another one. */
#define PXMPP_RUNTIME_ABI 2

/** The XML namespace bound to the `xml` prefix (xml:lang). */
#define PXMPP_NS_XML "http://www.w3.org/XML/1998/namespace"
/** The XMPP stream namespace (RFC 6120 §4.8.1). */
#define PXMPP_NS_STREAM "http://etherx.jabber.org/streams"
/** Content namespace of client-to-server streams. */
#define PXMPP_NS_CLIENT "jabber:client"
/** Content namespace of server-to-server streams. */
#define PXMPP_NS_SERVER "jabber:server"
/** Content namespace of a component's stream to its server (XEP-0114). */
#define PXMPP_NS_COMPONENT_ACCEPT "jabber:component:accept"

/** An attribute the schema does not describe.  @c ns is NULL when unqualified. */
typedef struct pxmpp_attr {
    const char *ns;
    const char *local;
    const char *value;
} pxmpp_attr;

/**
 * A generic XML node: an element (local != NULL) or a text node (local == NULL,
 * text != NULL).  Used for elements no schema describes and for payloads that
 * failed their schema.  Text nodes keep whitespace exactly.
 */
typedef struct pxmpp_node {
    const char *ns;                 /**< element namespace; NULL for a text node */
    const char *local;              /**< element local name; NULL for a text node */
    const char *text;               /**< text content of a text node; NULL for an element */
    const pxmpp_attr *attrs;        /**< attributes in document order */
    size_t attrs_count;
    const struct pxmpp_node *children; /**< child nodes in document order */
    size_t children_count;
} pxmpp_node;

/**
 * What a typed element kept besides its typed fields.
 *
 * @c order lists, for each child in document order, the index of the field it
 * was stored in (the field numbering is the order of the fields in the
 * generated struct, see the type manifest), or PXMPP_ORDER_EXTRA for the next
 * entry of @c extra_nodes.  The writer follows @c order when it is present and
 * otherwise writes children in schema declaration order, extra nodes last.
 */
typedef struct pxmpp_meta {
    const pxmpp_attr *extra_attrs;
    size_t extra_attrs_count;
    const pxmpp_node *extra_nodes;
    size_t extra_nodes_count;
    const uint16_t *order;
    size_t order_count;
    /** Bit i set: field i (an attribute or a single text-child) was present in the input,
        or is to be written although it holds its default value (0, false or the schema's
        default).  The generated constants PXMPP_<TYPE>_HAS_<FIELD> name the bits: set one
        to write `<history maxchars='0'/>` from scratch. */
    uint32_t present;
    /** For an element declared in several namespaces: 1 + the index of the namespace it
        was parsed in (pxmpp_type_desc.ns_list), written back in the same; 0 when built from
        scratch (then it takes its parent's namespace when that is one of its own, else the
        first). */
    uint8_t ns_index;
} pxmpp_meta;

#define PXMPP_ORDER_EXTRA 0xFFFFu

/** An xml:lang-keyed text (message body and subject, presence status). */
typedef struct pxmpp_lang_text {
    pxmpp_meta meta;
    const char *lang;   /**< the element's own xml:lang, NULL when it has none */
    const char *text;   /**< never NULL in a parsed stanza ("" for an empty element) */
} pxmpp_lang_text;

struct pxmpp_type_desc;

/** Where a stanza-level or payload-level validation failed. */
typedef struct pxmpp_diag {
    int code;              /**< a pxmpp_error code, usually PXMPP_ERR_STANZA_INVALID */
    const char *reason;    /**< English sentence, e.g. "unknown value 'bogus' for attribute type" */
    const char *path;      /**< element path, e.g. "/iq/query/item[3]/@subscription" */
} pxmpp_diag;

/**
 * One child of an extension point (a payload of a message, presence or iq, a
 * stream feature, or the content of an `any` point such as a pubsub item).
 * @c type is the generated descriptor of the typed struct @c data points to, or
 * NULL when no schema knows the element: then @c data is NULL and @c node holds
 * the element.  @c invalid is non-NULL when the payload broke its schema (a value
 * of the wrong type, a missing required part, a rule): a typed payload stays typed
 * (the offending value is kept raw in its meta, so nothing is lost and it writes
 * back unchanged) and @c invalid says what and where.  Check @c invalid before
 * trusting a typed payload's required fields.
 */
typedef struct pxmpp_payload {
    const struct pxmpp_type_desc *type;
    const void *data;
    const pxmpp_node *node;
    const pxmpp_diag *invalid;
} pxmpp_payload;

/* ------------------------------------------------------------------------- */
/* Descriptors: the tables the generator emits and the runtime walks.        */
/* They are public so that tools can introspect types; applications normally */
/* use the generated structs and functions instead.                          */
/* ------------------------------------------------------------------------- */

/** Value types of attributes and text. */
typedef enum pxmpp_vtype {
    PXMPP_V_STRING = 0,
    PXMPP_V_JID,       /**< const char *, structurally checked (pxmpp_jid_check) */
    PXMPP_V_ENUM,      /**< a generated C enum (int-sized); 0 means absent */
    PXMPP_V_BOOL,      /**< bool; written back as "true"/"false" */
    PXMPP_V_INT,       /**< int32_t or int64_t (see width), range-checked */
    PXMPP_V_DATETIME,  /**< const char *, XEP-0082 DateTime checked */
    PXMPP_V_BASE64,    /**< const char *, RFC 4648 base64 checked */
    PXMPP_V_DATE,      /**< const char *, XEP-0082 Date checked */
    PXMPP_V_TIME       /**< const char *, XEP-0082 Time checked */
} pxmpp_vtype;

/** Field kinds. */
typedef enum pxmpp_fkind {
    PXMPP_F_ATTR = 0,   /**< an attribute */
    PXMPP_F_TEXT,       /**< the element's own text content */
    PXMPP_F_CHILD,      /**< a typed child element (single pointer or list of structs) */
    PXMPP_F_TEXT_CHILD, /**< a child holding only a typed value, in its text or in one attribute (single
                             or list: a list is an array of the value's C type, e.g. const int32_t *) */
    PXMPP_F_LANG_TEXT,  /**< repeated xml:lang-keyed child (list of pxmpp_lang_text) */
    PXMPP_F_FLAG,       /**< an empty child element whose presence is a bool */
    PXMPP_F_CONDITION,  /**< a child whose name is an enum value (error conditions) */
    PXMPP_F_PAYLOADS,   /**< extension point: list of pxmpp_payload */
    PXMPP_F_NAME        /**< the element's own local name, one of the values of an enum (one-of
                             elements such as the five chat states) */
} pxmpp_fkind;

enum {
    PXMPP_FF_REQUIRED = 1u << 0, /**< attribute/text/child must be present */
    PXMPP_FF_LIST = 1u << 1,     /**< stored as pointer + count */
    PXMPP_FF_UNIQUE_LANG = 1u << 2 /**< lang texts: at most one per effective language (its xml:lang, else
                                        the inherited one; ASCII case ignored; none and '' are the same) */
};

/** An enumeration: values[i] is the XML form of C value i (NULL for values[0], which
    means absent, and for implied values that are never written); names[i] is the
    schema name of value i (NULL for names[0]). */
typedef struct pxmpp_enum_desc {
    const char *name;
    const char *const *values;
    uint16_t count;
    const char *const *names;
} pxmpp_enum_desc;

/** One field of a generated struct. */
typedef struct pxmpp_field_desc {
    const char *name;          /**< C field name */
    const char *local;         /**< XML attribute or child local name (NULL for TEXT/PAYLOADS/CONDITION) */
    const char *ns;            /**< attribute namespace, or child namespace (NULL: the parent's) */
    uint8_t kind;              /**< pxmpp_fkind */
    uint8_t vtype;             /**< pxmpp_vtype of the value */
    uint8_t width;             /**< INT: 4 or 8 bytes */
    uint8_t flags;             /**< PXMPP_FF_* */
    uint32_t offset;           /**< offset of the value (or of the list pointer) */
    uint32_t aux_offset;       /**< LIST: offset of the size_t count; CONDITION: offset of its text */
    uint32_t max_occurs;       /**< 0 = unbounded */
    uint32_t maxlen;           /**< max bytes of a string value, 0 = no limit of its own */
    int64_t min, max;          /**< INT range */
    int64_t def;               /**< default: ENUM index / BOOL 0|1 / INT value */
    bool has_default;
    const pxmpp_enum_desc *enum_desc;   /**< ENUM and CONDITION */
    const struct pxmpp_type_desc *child; /**< CHILD */
    const char *value_attr;    /**< TEXT_CHILD: the value is this attribute of the child
                                    (`<status code='110'/>`) instead of its text; NULL: text */
} pxmpp_field_desc;

/** The payload points (pxmpp_type_desc.payload_of and .point).  The code generator reads
    this enum (payload_points() in codegen/pxmpp_gen.py): each bit but ANY, lowercased, is a
    value of a schema's payload-of, and schema/pxmpp-schema.rng must allow exactly these. */
enum {
    PXMPP_PAYLOAD_OF_MESSAGE = 1u << 0,
    PXMPP_PAYLOAD_OF_PRESENCE = 1u << 1,
    PXMPP_PAYLOAD_OF_IQ = 1u << 2,
    PXMPP_PAYLOAD_OF_FEATURES = 1u << 3,
    PXMPP_PAYLOAD_OF_NESTED = 1u << 4, /**< only inside other payloads' `any` points */
    /** As a point (pxmpp_type_desc.point): every type with a payload_of or top_level. */
    PXMPP_PAYLOAD_OF_ANY = 1u << 31
};

/** What a rule reference looks at (pxmpp_rule_ref.scope). */
enum { PXMPP_RULE_SELF = 0, PXMPP_RULE_STANZA = 1 };

/** A reference of a rule: a field of the element (or of its stanza), or the payloads of one
    type in the element's (or stanza's) payloads field.  With values, a condition on its value. */
typedef struct pxmpp_rule_ref {
    uint8_t scope;                 /**< PXMPP_RULE_SELF or PXMPP_RULE_STANZA */
    bool used;                     /**< false: no reference (an absent if/unless) */
    const char *field;             /**< field name (NULL with payload) */
    const struct pxmpp_type_desc *payload; /**< payload(t): the type t */
    const char *const *values;     /**< condition values (XML forms), NULL: presence */
    uint16_t values_count;
    int16_t index;                 /**< SELF: the field's index (-1: look it up by name) */
    const int32_t *ints;           /**< SELF enum field: the values as enum numbers, else NULL */
} pxmpp_rule_ref;

/** The operation of a rule. */
enum { PXMPP_RULE_REQUIRES = 0, PXMPP_RULE_FORBIDS = 1, PXMPP_RULE_COUNT = 2 };

/** A co-constraint between fields (schema <rule>), checked by the parser. */
typedef struct pxmpp_rule_desc {
    uint8_t op;                    /**< PXMPP_RULE_REQUIRES, _FORBIDS or _COUNT */
    bool deferred;                 /**< names stanza.payload(): checked when the stanza ends */
    pxmpp_rule_ref when, unless;   /**< conditions (used == false: none) */
    pxmpp_rule_ref target;         /**< what is required, forbidden or counted */
    uint32_t min, max;             /**< COUNT: bounds (max UINT32_MAX: none) */
    const char *source;            /**< e.g. "RFC 6120 §8.3.1" */
    const char *text;              /**< the rule in words (its description) */
} pxmpp_rule_desc;

/** Special namespace marker: the stream's content namespace (jabber:client or jabber:server). */
#define PXMPP_NS_CONTENT ((const char *)0)

/** A generated element type. */
typedef struct pxmpp_type_desc {
    uint32_t abi;              /**< PXMPP_RUNTIME_ABI the tables were generated for */
    uint16_t id;               /**< index in the generated registry */
    const char *name;          /**< schema name, e.g. "roster_item" */
    const char *c_name;        /**< C struct name, e.g. "pxmpp_roster_item" */
    const char *local;         /**< element local name */
    const char *ns;            /**< namespace; NULL = the stream's content namespace */
    size_t size;               /**< sizeof the struct */
    const pxmpp_field_desc *fields;
    uint16_t fields_count;
    uint32_t payload_of;       /**< PXMPP_PAYLOAD_OF_* bits: where this type may appear as a payload */
    uint32_t point;            /**< PXMPP_PAYLOAD_OF_* bit of its own PAYLOADS field, or 0 */
    bool top_level;            /**< may appear as a direct child of <stream:stream> */
    bool stanza;               /**< message, presence or iq: core children are stanza-level */
    const char *const *ns_list; /**< every namespace of a type declared in several (NULL-terminated,
                                     ns_list[0] == ns), else NULL */
    const pxmpp_rule_desc *rules; /**< its rules (schema <rule>) */
    uint16_t rules_count;
    const char *spec;          /**< the specification its schema describes, e.g. "RFC 6120", "XEP-0045" */
    bool mixed;                /**< mixed content: white space between children is kept (in meta) */
    const pxmpp_enum_desc *names; /**< a one-of element: its local name is one of these values (local
                                       is the first), field name_field holds which; else NULL */
    uint16_t name_field;
} pxmpp_type_desc;

/**
 * The generated registry: every type, for lookups by (namespace, local name).
 * @c index, when not NULL, is an open-addressing hash table of @c index_size
 * (a power of two) slots: slot pxmpp_registry_hash(ns, local) & (size - 1), then
 * the next ones, hold 1 + the position in @c types of each type that is
 * top-level or a payload, once per namespace (0: empty slot; a type of the
 * content namespace is hashed with the namespace ""). A registry an application
 * assembles may leave it NULL: lookups then scan @c types.
 */
typedef struct pxmpp_registry {
    const pxmpp_type_desc *const *types;
    size_t count;
    const uint16_t *index;
    size_t index_size;
} pxmpp_registry;

/** The hash of the registry index: 32-bit FNV-1a over the namespace's bytes, one 0 byte,
    then the local name's bytes. */
static inline uint32_t pxmpp_registry_hash(const char *ns, const char *local)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)ns; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u; /* the 0 byte */
    for (const unsigned char *p = (const unsigned char *)local; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

#ifdef __cplusplus
}
#endif
#endif
