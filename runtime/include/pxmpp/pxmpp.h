/**
 * @file pxmpp.h
 * @brief Umbrella header: everything a pxmpp application uses.
 */
#ifndef PXMPP_H
#define PXMPP_H

#include <pxmpp/arena.h>
#include <pxmpp/build.h>
#include <pxmpp/client.h>
#include <pxmpp/component.h>
#include <pxmpp/error.h>
#include <pxmpp/gen/all.h>
#include <pxmpp/jid.h>
#include <pxmpp/stream.h>
#include <pxmpp/types.h>
#include <pxmpp/writer.h>

/** Library version. */
#define PXMPP_VERSION_MAJOR 0
#define PXMPP_VERSION_MINOR 1
#define PXMPP_VERSION_PATCH 0
#define PXMPP_VERSION_STRING "0.1.0"

#endif
