#!/usr/bin/python3
"""Write tests/fuzz/corpus/kafka_dispatch/: what a client sends to a broker,
as size-prefixed Kafka frames (see fuzz_kafka_dispatch.c).

- session-*: whole conversations encoded by a real client library
  (kafka-python 2.0.2, Debian python3-kafka) against the target's topic
  "fuzzseed" and group "fuzzgroup": produce then fetch, a consumer group's
  join, sync, commit, fetch of offsets, heartbeat and leave, admin requests;
- session-captures: the frames kcat and kafka-python sent to sluiced
  (corpus/kafka_request/capture-*), in the order they were sent;
- single-*: every named seed of corpus/kafka_request/ (one request each,
  from kafka-python, franz-go's kmsg and the captures) with its size prefix.

Rerun by hand:  /usr/bin/python3 tests/fuzz/seeds_kafka_dispatch.py
"""
import glob
import os
import struct

from kafka.protocol.admin import (ApiVersionRequest, CreatePartitionsRequest,
                                  CreateTopicsRequest, DeleteTopicsRequest,
                                  DescribeConfigsRequest, DescribeGroupsRequest, ListGroupsRequest)
from kafka.protocol.commit import GroupCoordinatorRequest, OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.group import (HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
                                  SyncGroupRequest)
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.offset import OffsetRequest
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.produce import ProduceRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "kafka_dispatch")
REQUESTS = os.path.join(HERE, "corpus", "kafka_request")
TOPIC = "fuzzseed"
GROUP = "fuzzgroup"


def frames(*requests):
    """The bytes kafka-python's protocol parser puts on the wire."""
    proto = KafkaProtocol(client_id="fuzzseed")
    for r in requests:
        proto.send_request(r)
    return bytes(proto.send_bytes())


def batch(n):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 20)
    for i in range(n):
        b.append(i, 1700000000000 + i, b"key-%d" % i, b"value-%d" % i, [])
    return bytes(b.build())


def produce(acks, partition=0, n=3):
    return ProduceRequest[3](transactional_id=None, required_acks=acks, timeout=1000,
                             topics=[(TOPIC, [(partition, batch(n))])])


def fetch(offset, partition=0, max_wait=0):
    return FetchRequest[4](replica_id=-1, max_wait_time=max_wait, min_bytes=1,
                           max_bytes=1 << 20, isolation_level=0,
                           topics=[(TOPIC, [(partition, offset, 1 << 20)])])


def join(member=""):
    return JoinGroupRequest[2](group=GROUP, session_timeout=10000, rebalance_timeout=10000,
                               member_id=member, protocol_type="consumer",
                               group_protocols=[("range", b"\x00\x00\x00\x00\x00\x01\x00\x08"
                                                 b"fuzzseed\x00\x00\x00\x00")])


def sessions():
    member = "fuzzseed-member"  # the coordinator names members itself; a fuzzer may echo it
    return {
        "session-produce-fetch": frames(
            ApiVersionRequest[0](), MetadataRequest[1](topics=[TOPIC]),
            produce(-1), produce(1, partition=1, n=1), fetch(0), fetch(1, partition=1),
            OffsetRequest[1](replica_id=-1, topics=[(TOPIC, [(0, -1)])]), fetch(3, max_wait=100)),
        "session-acks0-then-metadata": frames(produce(0), produce(0), MetadataRequest[0](topics=[])),
        "session-group": frames(
            GroupCoordinatorRequest[0](GROUP), join(), join(member),
            SyncGroupRequest[1](group=GROUP, generation_id=1, member_id=member,
                                group_assignment=[(member, b"\x00\x00")]),
            HeartbeatRequest[1](group=GROUP, generation_id=1, member_id=member),
            OffsetCommitRequest[2](consumer_group=GROUP, consumer_group_generation_id=-1,
                                   consumer_id="", retention_time=-1,
                                   topics=[(TOPIC, [(0, 2, "meta")])]),
            OffsetFetchRequest[1](consumer_group=GROUP, topics=[(TOPIC, [0, 1])]),
            DescribeGroupsRequest[0](groups=[GROUP]), ListGroupsRequest[0](),
            LeaveGroupRequest[0](group=GROUP, member_id=member)),
        "session-admin": frames(
            CreateTopicsRequest[2](create_topic_requests=[("other", 1, 1, [], [])], timeout=100,
                                   validate_only=False),
            CreatePartitionsRequest[0](topic_partitions=[(TOPIC, (3, None))], timeout=100,
                                       validate_only=False),
            DescribeConfigsRequest[1](resources=[(2, TOPIC, None), (4, "1", None)],
                                      include_synonyms=True),
            DeleteTopicsRequest[1](topics=["other"], timeout=100)),
    }


def framed(path):
    with open(path, "rb") as fh:
        body = fh.read()
    return struct.pack(">i", len(body)) + body


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = sessions()
    captures = sorted(glob.glob(os.path.join(REQUESTS, "capture-*")))
    seeds["session-captures"] = b"".join(framed(p) for p in captures)
    for path in sorted(glob.glob(os.path.join(REQUESTS, "*"))):
        name = os.path.basename(path)
        if len(name) != 40:  # libFuzzer's sha1-named finds are folded in by merging, not here
            seeds["single-" + name] = framed(path)
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
