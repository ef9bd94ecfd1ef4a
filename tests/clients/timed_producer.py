"""A confluent-kafka producer that records when each write was acknowledged
(tests/cluster/test_partition.py runs it inside a cut-off leader's network
namespace, to see when that leader stops acknowledging).

usage: timed_producer.py BOOTSTRAP TOPIC PREFIX ACKS STOP_FILE OUT_JSON

Sends PREFIX:0, PREFIX:1, ... to partition 0, one every 5 ms, without
retries (each outcome is the broker's answer to that one attempt) and with a
short message timeout, until STOP_FILE exists. Writes
  {"outcomes": [[value, offset (-1 if failed), error name or null, unix time], ...]}
to OUT_JSON, with the time at which the delivery report arrived. Prints
"acked N" progress lines. Exit 0 once OUT_JSON is written, 2 on usage errors.
"""

import json
import os
import sys
import time

from confluent_kafka import Producer


def main(argv):
    if len(argv) != 7:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    bootstrap, topic, prefix, acks, stop_file, out = argv[1:]
    outcomes = []
    acked = [0]

    def delivered(err, msg):
        if err is None:
            acked[0] += 1
        outcomes.append([msg.value().decode(), msg.offset() if err is None else -1,
                         None if err is None else err.name(), time.time()])

    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "retries": 0,
                  "linger.ms": 0, "message.timeout.ms": 3000, "request.timeout.ms": 2000,
                  "enable.idempotence": False, "topic.metadata.refresh.interval.ms": 500})
    i = 0
    last = 0.0
    while not os.path.exists(stop_file):
        p.produce(topic, f"{prefix}:{i}".encode(), partition=0, on_delivery=delivered)
        i += 1
        p.poll(0)
        time.sleep(0.005)
        if time.monotonic() - last > 0.5:
            print(f"acked {acked[0]}", flush=True)
            last = time.monotonic()
    p.flush(30)
    with open(out + ".tmp", "w") as f:
        json.dump({"outcomes": outcomes}, f)
    os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
