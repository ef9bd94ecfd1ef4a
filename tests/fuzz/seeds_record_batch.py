#!/usr/bin/python3
"""Write tests/fuzz/corpus/record_batch/: v2 record batches encoded by a real
client library (kafka-python 2.0.2, Debian python3-kafka), uncompressed and
compressed, each prefixed by the target's mode byte (see fuzz_record_batch.c).
Rerun by hand:  /usr/bin/python3 tests/fuzz/seeds_record_batch.py
"""
import os

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.default_records import DefaultRecordBase as B

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "record_batch")


def batch(codec, records, headers=()):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 20)
    for i in range(records):
        key = None if i % 2 else b"key-%d" % i
        b.append(i, 1700000000000 + i, key, b"value-%d" % i, list(headers))
    return bytes(b.build())


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "one-record": (3, batch(0, 1)),
        "three-records-headers": (3, batch(0, 3, [("h", b"v"), ("trace", None)])),
        "two-batches": (2, batch(0, 2) + batch(0, 1)),
        "gzip": (1, batch(B.CODEC_GZIP, 4)),
        "snappy": (1, batch(B.CODEC_SNAPPY, 2)),
        "size-limited": (7, batch(0, 20)),
    }
    for name, (mode, data) in seeds.items():
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(bytes([mode]) + data)


if __name__ == "__main__":
    main()
