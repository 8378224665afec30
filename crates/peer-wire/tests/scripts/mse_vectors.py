#!/usr/bin/env python3
"""Known-answer vectors for MSE (Message Stream Encryption), computed
independently of seedbed: Python's pow() for the Diffie-Hellman exchange,
hashlib for SHA-1, and RC4 in a few lines below.

Prints the values hard-coded in crates/peer-wire/tests/mse_vectors.rs.
Run: python3 crates/peer-wire/tests/scripts/mse_vectors.py
"""
import hashlib

P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
    "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6"
    "F44C42E9A63A36210000000000090563",
    16,
)
G = 2


def rc4(key):
    """RC4 keystream generator (KSA + PRGA)."""
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    while True:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        yield s[(s[i] + s[j]) % 256]


def mse_rc4(key):
    """RC4 with the first 1024 keystream bytes discarded, as MSE uses it."""
    ks = rc4(key)
    for _ in range(1024):
        next(ks)
    return ks


def xor(data, ks):
    return bytes(b ^ next(ks) for b in data)


def sha1(*parts):
    return hashlib.sha1(b"".join(parts)).digest()


def be96(n):
    return n.to_bytes(96, "big")


def show(name, b):
    print(f"{name} = {b.hex()}")


# Inputs (the Rust test uses the same).
xa = bytes(range(1, 21))                       # 160-bit private key of A
xb = bytes((0xA0 + i) % 256 for i in range(32))  # 256-bit private key of B
skey = bytes.fromhex("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3")  # SHA-1("test")
pad_a = bytes([0x5A]) * 7
pad_b = bytes([0xB5]) * 13
pad_c = b""
pad_d = bytes([0x00]) * 3
ia = b"\x13BitTorrent protocol" + bytes(8) + skey + b"-SB0100-abcdefghijkl"
provide = 0x03
select = 0x02

ya = be96(pow(G, int.from_bytes(xa, "big"), P))
yb = be96(pow(G, int.from_bytes(xb, "big"), P))
s_a = be96(pow(int.from_bytes(yb, "big"), int.from_bytes(xa, "big"), P))
s_b = be96(pow(int.from_bytes(ya, "big"), int.from_bytes(xb, "big"), P))
assert s_a == s_b
s = s_a

req1 = sha1(b"req1", s)
req2 = sha1(b"req2", skey)
req3 = sha1(b"req3", s)
obf = bytes(a ^ b for a, b in zip(req2, req3))
key_a = sha1(b"keyA", s, skey)
key_b = sha1(b"keyB", s, skey)

show("ya", ya)
show("yb", yb)
show("s", s)
show("req1", req1)
show("req2", req2)
show("req3", req3)
show("req2_xor_req3", obf)
show("key_a", key_a)
show("key_b", key_b)

ks = mse_rc4(key_a)
show("keystream_a_32", bytes(next(ks) for _ in range(32)))
ks = mse_rc4(key_b)
show("keystream_b_32", bytes(next(ks) for _ in range(32)))

# The whole exchange: A's step 1 and 3, B's step 2 and 4, and the first
# 16 bytes of each side's RC4 payload stream (zeros encrypted).
enc_a = mse_rc4(key_a)
enc_b = mse_rc4(key_b)
step1 = ya + pad_a
step2 = yb + pad_b
step3 = (
    req1
    + obf
    + xor(bytes(8) + provide.to_bytes(4, "big") + len(pad_c).to_bytes(2, "big") + pad_c
          + len(ia).to_bytes(2, "big") + ia, enc_a)
)
step4 = xor(bytes(8) + select.to_bytes(4, "big") + len(pad_d).to_bytes(2, "big") + pad_d, enc_b)
payload_a = xor(bytes(16), enc_a)
payload_b = xor(bytes(16), enc_b)
show("step1", step1)
show("step2", step2)
show("step3", step3)
show("step4", step4)
show("payload_a_16", payload_a)
show("payload_b_16", payload_b)
