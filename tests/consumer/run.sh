#!/usr/bin/env bash
# Installs a built pxmpp into a temporary prefix and builds a small program
# against it twice: through find_package(pxmpp) and through pkg-config.
#   usage: tests/consumer/run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

if (($# != 2)); then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 64
fi
build_dir=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
consumer_dir="$source_dir/tests/consumer"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pxmpp-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

echo "-- installing $build_dir into $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log" >&2
  exit 1
}

# The library directory is lib/ or lib/<multiarch>/, whichever the build chose.
pc_file=$(find "$prefix" -path '*/pkgconfig/pxmpp.pc' -print -quit)
if [[ -z "$pc_file" ]]; then
  echo "pxmpp.pc was not installed" >&2
  exit 1
fi
libdir=$(dirname "$(dirname "$pc_file")")
if ! compgen -G "$libdir/libpxmpp.so*" >/dev/null; then
  echo "libpxmpp.so is not next to pxmpp.pc (in $libdir)" >&2
  exit 1
fi

echo "-- CMake: find_package(pxmpp) from $prefix"
cmake -S "$consumer_dir" -B "$tmp/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log" >&2
  exit 1
}
cmake --build "$tmp/build" >"$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log" >&2
  exit 1
}
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/build/pxmpp_consumer"
if [[ -x "$tmp/build/pxmpp_consumer_static" ]]; then
  "$tmp/build/pxmpp_consumer_static"
fi
net_pc=$(find "$prefix" -path '*/pkgconfig/pxmpp-net.pc' -print -quit)
if [[ -n "$net_pc" ]]; then
  # the driver was installed: its CMake targets must have been found too
  for exe in pxmpp_consumer_net pxmpp_consumer_net_static; do
    if [[ ! -x "$tmp/build/$exe" ]]; then
      echo "pxmpp-net.pc is installed but find_package(pxmpp COMPONENTS net) gave no pxmpp::pxmpp_net" >&2
      exit 1
    fi
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/build/$exe"
  done
fi

echo "-- pkg-config: $pc_file"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc_file")
pc_prefix=$(pkg-config --variable=prefix pxmpp)
if [[ "$pc_prefix" != "$prefix" ]]; then
  echo "pxmpp.pc names the prefix '$pc_prefix', not the one it was installed into ('$prefix')" >&2
  exit 1
fi
pc_flags=$(pkg-config --cflags --libs pxmpp)
echo "   flags: $pc_flags"
# shellcheck disable=SC2086 # the flags are meant to be split into words
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer-pc" "$consumer_dir/main.c" $pc_flags
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer-pc"

if [[ -n "$net_pc" ]]; then
  net_flags=$(pkg-config --cflags --libs pxmpp-net)
  echo "   pxmpp-net flags: $net_flags"
  # shellcheck disable=SC2086 # the flags are meant to be split into words
  "${CC:-cc}" -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer-net-pc" "$consumer_dir/net.c" $net_flags
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer-net-pc"
fi

echo "-- consumer: CMake package and pkg-config both work"
