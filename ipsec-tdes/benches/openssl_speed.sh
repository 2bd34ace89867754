#!/usr/bin/env bash
# OpenSSL's 3DES-CBC figure for the same machine and session as `cargo bench -p ipsec-tdes`:
# 1400-byte buffers (the packets of the criterion benchmark), EVP interface, one core.
# Prints MB/s (OpenSSL reports kB/s = 1000 bytes/s).
set -euo pipefail
secs="${1:-3}"
openssl version
for dir in "" "-decrypt"; do
    line=$(openssl speed -evp des-ede3-cbc ${dir} -bytes 1400 -seconds "${secs}" 2>/dev/null |
        grep -i '^des-ede3-cbc')
    kbs=$(awk '{print $2}' <<<"${line}" | tr -d k)
    echo "openssl des-ede3-cbc ${dir:-encrypt} 1400 B: $(awk -v k="${kbs}" 'BEGIN{printf "%.1f", k/1000}') MB/s"
done
