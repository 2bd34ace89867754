# [SELF] vectors used by kdf.rs and iv.rs tests (NOT published vectors): the inputs of
# shared reference test-vectors.md section 5.2, pushed through other hashes and lengths.
# Run: python3 self_vectors.py  (Python 3 standard library only).
import hmac, hashlib
P2 = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",16)
be=lambda n,l:n.to_bytes(l,"big")
psk=b"ciscokey"; cky_i=bytes.fromhex("a1b2c3d4e5f60718"); cky_r=bytes.fromhex("1827364554637281")
ni=bytes(range(0,0x14)); nr=bytes(range(0x20,0x34))
xi=int("11"*32,16); xr=int("22"*32,16)
gxi=be(pow(2,xi,P2),128); gxr=be(pow(2,xr,P2),128); gxy=be(pow(int.from_bytes(gxr,"big"),xi,P2),128)
ni2=bytes(range(0x40,0x54)); nr2=bytes(range(0x60,0x74))
def run(h):
    prf=lambda k,d: hmac.new(k,d,h).digest()
    skeyid=prf(psk,ni+nr)
    d=prf(skeyid,gxy+cky_i+cky_r+b"\0"); a=prf(skeyid,d+gxy+cky_i+cky_r+b"\1"); e=prf(skeyid,a+gxy+cky_i+cky_r+b"\2")
    return prf,skeyid,d,a,e
def expand(prf,key,first,rest,n):
    out=b""; prev=prf(key,first); out+=prev
    while len(out)<n: prev=prf(key,prev+rest); out+=prev
    return out[:n]
def keymat(prf,d,spi,n,pfs=b""):
    seed=pfs+b"\x03"+spi+ni2+nr2
    return expand(prf,d,seed,seed,n)
# SHA-1: Ka for AES-256 (32 bytes from 20-byte SKEYID_e)
prf,skeyid,d,a,e=run(hashlib.sha1)
print("sha1_ka_aes256 =", expand(prf,e,b"\0",b"",32).hex())
print("sha1_ka_aes128 =", e[:16].hex())
print("sha1_keymat_pfs_i2r_44 =", keymat(prf,d,bytes.fromhex("55667788"),44,gxy).hex())
print("sha1_keymat_i2r_16 =", keymat(prf,d,bytes.fromhex("55667788"),16).hex())
mid=bytes.fromhex("5a5a5a5a")
pl=bytes.fromhex("0a000018") + b"\x00"*20   # made-up payload bytes
print("sha1_hash1 =", prf(a,mid+pl).hex())
print("sha1_hash2 =", prf(a,mid+ni2+pl).hex())
print("natd_v4 =", hashlib.sha1(cky_i+cky_r+bytes([192,0,2,1])+(500).to_bytes(2,"big")).hexdigest())
print("natd_v6 =", hashlib.sha1(cky_i+cky_r+bytes.fromhex("20010db8000000000000000000000001")+(4500).to_bytes(2,"big")).hexdigest())
# SHA-256 / AES-256 end to end
prf,skeyid,d,a,e=run(hashlib.sha256)
print("sha256_skeyid =", skeyid.hex()); print("sha256_skeyid_d =", d.hex()); print("sha256_skeyid_a =", a.hex()); print("sha256_skeyid_e =", e.hex())
print("sha256_ka_aes256 =", e[:32].hex())
print("sha256_iv_aes =", hashlib.sha256(gxi+gxr).digest()[:16].hex())
print("sha256_keymat_aes256_sha256_i2r =", keymat(prf,d,bytes.fromhex("55667788"),64).hex())
print("sha256_keymat_aes256_sha256_r2i_pfs =", keymat(prf,d,bytes.fromhex("11223344"),64,gxy).hex())
print("sha256_hash3 =", prf(a,b"\0"+mid+ni2+nr2).hex())
# MD5 / 3DES: Ka expansion needs K1|K2 (16+16 -> 24)
prf,skeyid,d,a,e=run(hashlib.md5)
print("md5_ka_3des =", expand(prf,e,b"\0",b"",24).hex())
