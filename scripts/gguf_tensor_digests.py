#!/usr/bin/env python3
"""Prints one line per tensor of a GGUF file: PREFIX TENSOR TYPE FNV1A64(tensor bytes).

Standard library only (no numpy, no gguf-py), so that it reads llama.cpp's output
independently of vkrt's reader. Used by scripts/llama_quantize_presets.sh.
usage: gguf_tensor_digests.py FILE PREFIX
       gguf_tensor_digests.py FILE --bpw    (bits per weight of the tensor data: bytes * 8 / elements)
"""
import struct
import sys

# ggml type id -> (name, block elements, block bytes) for the types llama-quantize writes here
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
         6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84),
         11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
         14: ("Q6_K", 256, 210), 20: ("IQ4_NL", 32, 18), 23: ("IQ4_XS", 256, 136), 30: ("BF16", 1, 2)}
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def main():
    path, prefix = sys.argv[1], sys.argv[2]
    b = open(path, "rb").read()
    pos = 0

    def take(n):
        nonlocal pos
        if n > len(b) - pos:
            sys.exit(f"{path}: truncated")
        r = b[pos:pos + n]
        pos += n
        return r

    def u32():
        return struct.unpack("<I", take(4))[0]

    def u64():
        return struct.unpack("<Q", take(8))[0]

    def skip(t):
        if t == 8:
            take(u64())
        elif t == 9:
            et, n = u32(), u64()
            for _ in range(n):
                skip(et)
        else:
            take(SCALAR[t])

    if take(4) != b"GGUF":
        sys.exit(f"{path}: not GGUF")
    u32()
    n_tensors, n_kv = u64(), u64()
    alignment = 32
    for _ in range(n_kv):
        key = take(u64()).decode()
        t = u32()
        if key == "general.alignment" and t == 4:
            alignment = u32()
        else:
            skip(t)
    infos = []
    for _ in range(n_tensors):
        name = take(u64()).decode()
        dims = [u64() for _ in range(u32())]
        infos.append((name, dims, u32(), u64()))
    data = (pos + alignment - 1) // alignment * alignment
    if prefix == "--bpw":
        nbytes = nel = 0
        for name, dims, t, off in infos:
            _, be, bb = TYPES[t]
            n = 1
            for d in dims:
                n *= d
            nbytes += n // be * bb
            nel += n
        print(f"{nbytes * 8 / nel:.3f}")
        return
    for name, dims, t, off in infos:
        tname, be, bb = TYPES[t]
        n = 1
        for d in dims:
            n *= d
        size = n // be * bb
        h = 0xcbf29ce484222325
        for c in b[data + off:data + off + size]:
            h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        print(f"{prefix} {name} {tname} {h:016x}")


main()
