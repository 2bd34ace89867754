#!/usr/bin/env bash
# Installs the C library libipsecrs: header, static library, shared library with its SONAME
# symlinks, and a pkg-config file.
#
#   PREFIX=/usr/local DESTDIR= ffi-c/install.sh          cargo build --release, then install
#   FROM=target/debug PREFIX=/tmp/p ffi-c/install.sh     install a library built before (no cargo)
#
# Variables (all optional):
#   PREFIX      install prefix                                   default /usr/local
#   LIBDIR      libraries and pkgconfig/                         default $PREFIX/lib
#               (e.g. LIBDIR=/usr/lib/x86_64-linux-gnu for a Debian-style multiarch layout)
#   INCLUDEDIR  headers; the header goes to $INCLUDEDIR/ipsecrs/ default $PREFIX/include
#   DESTDIR     staging root put in front of every path written, not written into the .pc
#               (for building packages)                          default empty
#   FROM        directory holding libipsecrs.a and libipsecrs.so (e.g. target/release); when
#               set nothing is built                             default: build with cargo
#   CARGO       cargo binary                                     default cargo
#   CARGO_FLAGS extra words for `cargo build`, e.g. "--locked --offline"
#
# Installs, with V the crate version from the header's IPSEC_VERSION_* (0.1.0) and SONAME the
# one ffi-c/build.rs gave the shared library (libipsecrs.so.0):
#   $INCLUDEDIR/ipsecrs/ipsec.h
#   $LIBDIR/libipsecrs.a
#   $LIBDIR/$SONAME.<minor>.<patch>     the shared library (libipsecrs.so.0.1.0)
#   $LIBDIR/$SONAME -> that file         what programs load (their DT_NEEDED)
#   $LIBDIR/libipsecrs.so -> $SONAME     what `-lipsecrs` finds at link time
#   $LIBDIR/pkgconfig/ipsecrs.pc         from ffi-c/ipsecrs.pc.in
# Idempotent: running it again overwrites the same files and symlinks. Other versions'
# libipsecrs.so.* files already in LIBDIR are left alone (the symlinks move to this one).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: keep '&' literal in ${x//p/r}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workspace="$(dirname "${here}")"

die() {
    echo "ffi-c/install.sh: $*" >&2
    exit 1
}

# Trailing slashes dropped; PREFIX=/ becomes "" here (so that ${PREFIX}/lib is /lib).
PREFIX="${PREFIX:-/usr/local}"
PREFIX="${PREFIX%/}"
LIBDIR="${LIBDIR:-${PREFIX}/lib}"
INCLUDEDIR="${INCLUDEDIR:-${PREFIX}/include}"
LIBDIR="${LIBDIR%/}"
INCLUDEDIR="${INCLUDEDIR%/}"
DESTDIR="${DESTDIR:-}"
for var in PREFIX LIBDIR INCLUDEDIR; do
    val="${!var}"
    [[ ${var} == PREFIX && -z ${val} ]] && continue
    [[ ${val} == /* ]] || die "${var} must be an absolute path (got '${val}')"
    # pkg-config splits its fields on whitespace.
    [[ ${val} != *[[:space:]]* ]] || die "${var} must not contain whitespace (got '${val}')"
done

header="${here}/include/ipsec.h"
[[ -f ${header} ]] || die "${header} missing"

# --- the built library -----------------------------------------------------------------------
if [[ -n ${FROM:-} ]]; then
    built="$(cd "${FROM}" 2>/dev/null && pwd)" || die "FROM=${FROM}: no such directory"
else
    cargo="${CARGO:-cargo}"
    # shellcheck disable=SC2086 # CARGO_FLAGS is a list of words
    (cd "${workspace}" && "${cargo}" build --release -p ipsec-ffi --lib ${CARGO_FLAGS:-})
    target="$(cd "${workspace}" && "${cargo}" metadata --no-deps --format-version 1 |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    [[ -n ${target} ]] || die "cannot find cargo's target directory (cargo metadata)"
    built="${target}/release"
fi
static_lib="${built}/libipsecrs.a"
shared_lib="${built}/libipsecrs.so"
[[ -f ${static_lib} ]] || die "${static_lib} missing"
[[ -f ${shared_lib} ]] || die "${shared_lib} missing"

# --- names -----------------------------------------------------------------------------------
version_part() { # MAJOR|MINOR|PATCH
    sed -n "s/^#define IPSEC_VERSION_$1 \([0-9][0-9]*\)\$/\1/p" "${header}"
}
major="$(version_part MAJOR)"
minor="$(version_part MINOR)"
patch="$(version_part PATCH)"
[[ -n ${major} && -n ${minor} && -n ${patch} ]] ||
    die "no IPSEC_VERSION_MAJOR/MINOR/PATCH in ${header}"
version="${major}.${minor}.${patch}"

if command -v readelf >/dev/null 2>&1; then
    soname="$(LC_ALL=C readelf -d "${shared_lib}" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
elif command -v objdump >/dev/null 2>&1; then
    soname="$(LC_ALL=C objdump -p "${shared_lib}" | sed -n 's/^ *SONAME *\([^ ]*\)$/\1/p')"
else
    die "readelf or objdump (binutils) is needed to read the SONAME of ${shared_lib}"
fi
[[ ${soname} =~ ^libipsecrs\.so\.[0-9]+$ ]] ||
    die "${shared_lib} has SONAME '${soname}', expected libipsecrs.so.N (ffi-c/build.rs sets it)"
real="${soname}.${minor}.${patch}"

# --- install ---------------------------------------------------------------------------------
# LIBDIR/INCLUDEDIR under PREFIX are written relative to ${prefix} in the .pc, so that
# `pkg-config --define-prefix` can relocate the tree.
pc_path() { # ABSOLUTE-PATH
    if [[ -n ${PREFIX} && $1 == "${PREFIX}/"* ]]; then
        printf '%s' '${prefix}'"${1#"${PREFIX}"}"
    else
        printf '%s' "$1"
    fi
}

lib_dest="${DESTDIR}${LIBDIR}"
inc_dest="${DESTDIR}${INCLUDEDIR}/ipsecrs"
pc_dest="${lib_dest}/pkgconfig"
install -d -m 0755 "${lib_dest}" "${inc_dest}" "${pc_dest}"

install -m 0644 "${header}" "${inc_dest}/ipsec.h"
install -m 0644 "${static_lib}" "${lib_dest}/libipsecrs.a"
install -m 0755 "${shared_lib}" "${lib_dest}/${real}"
ln -sfn "${real}" "${lib_dest}/${soname}"
ln -sfn "${soname}" "${lib_dest}/libipsecrs.so"

pc=""
while IFS= read -r line || [[ -n ${line} ]]; do
    [[ ${line} == '##'* ]] && continue # template-only comments
    line="${line//@PREFIX@/${PREFIX:-/}}"
    line="${line//@LIBDIR@/$(pc_path "${LIBDIR}")}"
    line="${line//@INCLUDEDIR@/$(pc_path "${INCLUDEDIR}")}"
    line="${line//@VERSION@/${version}}"
    pc+="${line}"$'\n'
done <"${here}/ipsecrs.pc.in"
[[ ! ${pc} =~ @[A-Z_]+@ ]] || die "ipsecrs.pc.in has a placeholder this script does not fill"
tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT
printf '%s' "${pc}" >"${tmp}"
install -m 0644 "${tmp}" "${pc_dest}/ipsecrs.pc"

echo "installed libipsecrs ${version} (SONAME ${soname}) into ${DESTDIR}${PREFIX:-/}:"
echo "  ${inc_dest}/ipsec.h"
echo "  ${lib_dest}/libipsecrs.a"
echo "  ${lib_dest}/${real}, ${soname} -> ${real}, libipsecrs.so -> ${soname}"
echo "  ${pc_dest}/ipsecrs.pc"
if [[ -z ${DESTDIR} ]]; then
    echo "use: PKG_CONFIG_PATH=${LIBDIR}/pkgconfig pkg-config --cflags --libs ipsecrs"
fi
