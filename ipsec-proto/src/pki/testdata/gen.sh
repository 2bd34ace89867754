#!/bin/sh
# Regenerates the PKI test fixtures (our own, made for these tests). Run once; the outputs are
# committed. Needs OpenSSL 3. Certificates last 20 years; tests use a fixed time anyway.
set -eu
cd "$(dirname "$0")"
DAYS=7300
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cat > "$TMP/ext.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused

[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[gw1]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = DNS:gw1.example.com, IP:10.0.0.1
authorityKeyIdentifier = keyid

[gw2]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = DNS:gw2.example.com, IP:10.0.0.2
authorityKeyIdentifier = keyid

[kenc]
basicConstraints = CA:FALSE
keyUsage = critical, keyEncipherment
subjectAltName = DNS:kenc.example.com
authorityKeyIdentifier = keyid

[plain]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
authorityKeyIdentifier = keyid
CNF

# Root CAs: PKCS#8 keys (what `req -newkey` writes).
openssl req -x509 -newkey rsa:2048 -sha256 -days $DAYS -nodes -keyout ca.key -out ca.pem \
    -subj "/CN=Example Root CA/O=Example/C=US" -config "$TMP/ext.cnf" \
    -extensions ca -set_serial 1
openssl req -x509 -newkey rsa:2048 -sha256 -days $DAYS -nodes -keyout ca2.key -out ca2.pem \
    -subj "/CN=Other Root CA/O=Other Org/C=DE" -config "$TMP/ext.cnf" \
    -extensions ca -set_serial 1

# issue NAME SUBJECT CA SERIAL SECTION KEYFORMAT
issue() {
    if [ "$6" = pkcs1 ]; then
        openssl genrsa -traditional -out "$1.key" 2048
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key"
    fi
    openssl req -new -key "$1.key" -subj "$2" -out "$TMP/$1.csr" -config "$TMP/ext.cnf"
    openssl x509 -req -in "$TMP/$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$4" \
        -days $DAYS -sha256 -extfile "$TMP/ext.cnf" -extensions "$5" -out "$1.pem"
}
issue gw1 "/CN=gw1.example.com/O=Example/C=US" ca 0x1001 gw1 pkcs1
issue gw2 "/CN=gw2.example.com/OU=VPN/O=Example/C=US/emailAddress=vpn@example.com" ca 0x1002 gw2 pkcs8
issue kenc "/CN=kenc.example.com/O=Example/C=US" ca 0x1003 kenc pkcs1
issue revoked "/CN=revoked.example.com/O=Example/C=US" ca 0x1004 plain pkcs8
issue other "/CN=other.example.com/O=Other Org/C=DE" ca2 0x2001 gw1 pkcs1
# A chain through an intermediate CA.
issue sub "/CN=Example Sub CA/O=Example/C=US" ca 0x1010 ca pkcs8
issue leaf "/CN=leaf.example.com/O=Example/C=US" sub 0x3001 plain pkcs1

# The other signature algorithms path validation accepts, on gw1's key: RSA-PSS (SHA-256,
# MGF1-SHA-256, 32-byte salt) and SHA-1 (older CAs).
openssl req -new -key gw1.key -subj "/CN=pss.example.com/O=Example/C=US" -out "$TMP/pss.csr" \
    -config "$TMP/ext.cnf"
openssl x509 -req -in "$TMP/pss.csr" -CA ca.pem -CAkey ca.key -set_serial 0x1020 -days $DAYS \
    -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
    -extfile "$TMP/ext.cnf" -extensions plain -out pss.pem
openssl req -new -key gw1.key -subj "/CN=sha1.example.com/O=Example/C=US" -out "$TMP/sha1.csr" \
    -config "$TMP/ext.cnf"
openssl x509 -req -in "$TMP/sha1.csr" -CA ca.pem -CAkey ca.key -set_serial 0x1021 -days $DAYS \
    -sha1 -extfile "$TMP/ext.cnf" -extensions plain -out sha1.pem

# Below the 1024-bit floor: KeySize.
openssl genrsa -traditional -out small512.key 512

# The expired certificate and the CRL need `openssl ca` (explicit dates, a database).
mkdir -p "$TMP/db"
: > "$TMP/db/index.txt"
echo 01 > "$TMP/db/crlnumber"
echo 1005 > "$TMP/db/serial"
cat > "$TMP/ca.cnf" <<CNF
[ca]
default_ca = CA_default
[CA_default]
dir = $TMP/db
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $PWD/ca.pem
private_key = $PWD/ca.key
default_md = sha256
default_crl_days = $DAYS
policy = policy_any
preserve = yes
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
countryName = optional
[plain]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
authorityKeyIdentifier = keyid
[crl_ext]
authorityKeyIdentifier = keyid
CNF
openssl genrsa -traditional -out expired.key 2048
openssl req -new -key expired.key -subj "/CN=expired.example.com/O=Example/C=US" \
    -out "$TMP/expired.csr" -config "$TMP/ext.cnf"
openssl ca -batch -notext -config "$TMP/ca.cnf" -extensions plain -in "$TMP/expired.csr" \
    -startdate 20200101000000Z -enddate 20210101000000Z -out expired.pem
openssl ca -batch -config "$TMP/ca.cnf" -revoke revoked.pem -crl_reason keyCompromise
openssl ca -batch -config "$TMP/ca.cnf" -gencrl -crlexts crl_ext -out ca.crl.pem

# Known answer for sign_raw: PKCS#1 v1.5 type 1 over 20 raw bytes 00 01 .. 13, no DigestInfo
# (pkeyutl without -digest signs the input as is).
printf '\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023' \
    > "$TMP/data20"
openssl pkeyutl -sign -inkey gw1.key -pkeyopt rsa_padding_mode:pkcs1 -in "$TMP/data20" \
    | od -An -v -tx1 | tr -d ' \n' > gw1_sig20.hex
echo >> gw1_sig20.hex
