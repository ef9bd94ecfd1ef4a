"""Topic names that clients must not create.

A node with both roles keeps the controller quorum's Raft log in
<log.dirs>/__cluster_metadata-0 (KRaft's layout): partition 0 of a topic named
__cluster_metadata would be opened in that directory, and deleting the topic
would remove the Raft log under the running controller. Kafka refuses the name
("Creation of internal topic __cluster_metadata is prohibited.",
INVALID_REQUEST), and so do we, for auto-creation too.
"""

import os
import struct

from test_protocol_raw import connect, frame_of, recv_response, string

RAFT_TOPIC = "__cluster_metadata"
INVALID_REQUEST = 42
UNKNOWN_TOPIC_OR_PARTITION = 3


def metadata_v1_topic_error(node, topic):
    """Metadata v1 naming `topic` (auto-creation allowed): its error code."""
    with connect(node) as s:
        s.sendall(frame_of(3, 1, 1, struct.pack(">i", 1) + string(topic)))
        resp = recv_response(s)
    pos = 4  # correlation id
    (n_brokers,) = struct.unpack(">i", resp[pos:pos + 4])
    pos += 4
    for _ in range(n_brokers):
        pos += 4  # node id
        (host_len,) = struct.unpack(">h", resp[pos:pos + 2])
        pos += 2 + host_len + 4  # host, port
        (rack_len,) = struct.unpack(">h", resp[pos:pos + 2])
        pos += 2 + max(rack_len, 0)
    pos += 4 + 4  # controller id, topic count
    (err, name_len) = struct.unpack(">hh", resp[pos:pos + 4])
    assert resp[pos + 4:pos + 4 + name_len].decode() == topic
    return err


def delete_topic_error(node, topic):
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">i", 5000)
    with connect(node) as s:
        s.sendall(frame_of(20, 1, 2, body))
        resp = recv_response(s)
    pos = 4 + 4 + 4  # correlation id, throttle, count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    (err,) = struct.unpack(">h", resp[pos + 2 + name_len:pos + 4 + name_len])
    return err


def test_cluster_metadata_topic_cannot_take_over_the_raft_directory(clusters):
    c = clusters(1)
    node = c[0]
    raft_dir = os.path.join(node.data_dir, RAFT_TOPIC + "-0")
    before = sorted(os.listdir(raft_dir))
    assert before, "the controller keeps its Raft log here"

    assert metadata_v1_topic_error(node, RAFT_TOPIC) == INVALID_REQUEST
    assert not any(f.endswith((".log", ".index", ".timeindex", ".checkpoint"))
                   for f in os.listdir(raft_dir))
    assert delete_topic_error(node, RAFT_TOPIC) == UNKNOWN_TOPIC_OR_PARTITION
    # Raft's own files (metadata1/metadata2, segments) are all still there.
    assert {f for f in before if f.startswith("metadata")} <= set(os.listdir(raft_dir))
    assert "auto-create refused topic=__cluster_metadata" in node.log_text()
