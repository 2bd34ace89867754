#!/usr/bin/env bash
# Regenerates ffi-c/include/ipsec.h with cbindgen.
#   ffi-c/gen-header.sh          write the header
#   ffi-c/gen-header.sh --check  fail (exit 1, diff on stderr) if the committed header is stale
# cbindgen is a build-time tool only (not run by build.rs): `cargo install cbindgen --locked`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v cbindgen >/dev/null 2>&1 || {
    echo "cbindgen not found; install it with: cargo install cbindgen --locked" >&2
    exit 2
}
tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT
(cd "${here}" && cbindgen --quiet --config cbindgen.toml --crate ipsec-ffi --output "${tmp}" .)
if [[ "${1:-}" == "--check" ]]; then
    if ! diff -u "${here}/include/ipsec.h" "${tmp}" >&2; then
        echo "ffi-c/include/ipsec.h is stale: run ffi-c/gen-header.sh and commit it" >&2
        exit 1
    fi
    echo "ffi-c/include/ipsec.h is current"
else
    mkdir -p "${here}/include"
    cp "${tmp}" "${here}/include/ipsec.h"
    echo "wrote ${here}/include/ipsec.h"
fi
