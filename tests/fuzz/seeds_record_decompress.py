#!/usr/bin/python3
"""Write tests/fuzz/corpus/record_decompress/: compressed record batch bodies
as real clients send them (kafka-python 2.0.2 batches, Debian python3-kafka;
python3-snappy, python3-lz4 and python3-zstandard for the rest), plus bombs,
truncations and concatenations. Each seed is the target's two selector bytes
(codec, bound; see fuzz_record_decompress.c) followed by the body.
Rerun by hand:  /usr/bin/python3 tests/fuzz/seeds_record_decompress.py
"""
import gzip
import os
import struct

import lz4.frame
import snappy
import zstandard
from kafka.record.default_records import DefaultRecordBatchBuilder

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "record_decompress")
BOUND_64K = 16  # bound selector: 1 << 16 bytes
BOUND_1K = 10


def client_body(codec, records):
    """The records section of a batch kafka-python compressed itself."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 20)
    for i in range(records):
        b.append(i, 1700000000000 + i, b"key-%d" % i, b"value-%d" % i * 3, [])
    return bytes(b.build())[61:]


def xerial(data, block=64):
    out = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    for i in range(0, len(data), block):
        c = snappy.compress(data[i:i + block])
        out += struct.pack(">i", len(c)) + c
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    plain = bytes(range(256)) * 4
    zeros = bytes(1 << 20)
    seeds = {
        "client-gzip": (1, BOUND_64K, client_body(1, 10)),
        "client-snappy": (2, BOUND_64K, client_body(2, 10)),
        "client-lz4": (3, BOUND_64K, client_body(3, 10)),
        "client-zstd": (4, BOUND_64K, client_body(4, 10)),
        "gzip-two-members": (1, BOUND_64K, gzip.compress(plain) + gzip.compress(b"tail")),
        "snappy-raw": (2, BOUND_64K, snappy.compress(plain)),
        "snappy-xerial": (2, BOUND_64K, xerial(plain)),
        "lz4-frame-checksum": (3, BOUND_64K,
                               lz4.frame.compress(plain, content_checksum=True,
                                                  block_linked=False)),
        "zstd-two-frames": (4, BOUND_64K, zstandard.ZstdCompressor().compress(plain) +
                            zstandard.ZstdCompressor(level=1).compress(b"tail")),
        "bomb-gzip": (1, BOUND_1K, gzip.compress(zeros)),
        "bomb-snappy-xerial": (2, BOUND_1K, xerial(zeros[:1 << 16], block=1 << 15)),
        "bomb-lz4": (3, BOUND_1K, lz4.frame.compress(zeros)),
        "bomb-zstd": (4, BOUND_1K, zstandard.ZstdCompressor().compress(zeros)),
        "truncated-gzip": (1, BOUND_64K, gzip.compress(plain)[:-5]),
        "truncated-zstd": (4, BOUND_64K, zstandard.ZstdCompressor().compress(plain)[:-3]),
        "codec-7": (7, BOUND_64K, b"\x00" * 16),
    }
    for name, (codec, bound, body) in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([codec, bound]) + body)


if __name__ == "__main__":
    main()
