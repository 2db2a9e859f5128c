"""The official Pulsar client on the outside of the runner tests.

produce URL TOPIC TEXT...            one message per TEXT (KEY=VALUE|... not supported: plain text)
produce_keyed URL TOPIC N KEYS       N messages "k<i % KEYS>:<i>" keyed k<i % KEYS>
consume URL TOPIC SUB N TIMEOUT_S    prints one JSON line per message: key, text, properties
"""

import json
import sys

import pulsar


def main():
    cmd, url, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    client = pulsar.Client(url, operation_timeout_seconds=20)
    try:
        if cmd == "produce":
            p = client.create_producer(topic, batching_enabled=False)
            for text in sys.argv[4:]:
                p.send(text.encode("utf-8"), properties={"origin": "python"})
            p.flush()
        elif cmd == "produce_keyed":
            n, keys = int(sys.argv[4]), int(sys.argv[5])
            p = client.create_producer(topic, batching_enabled=False)
            for i in range(n):
                k = "k%d" % (i % keys)
                p.send_async(("%s:%d" % (k, i)).encode(), None, partition_key=k)
            p.flush()
        elif cmd == "consume":
            sub, n, timeout = sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
            c = client.subscribe(topic, sub, initial_position=pulsar.InitialPosition.Earliest)
            for _ in range(n):
                m = c.receive(timeout_millis=int(timeout * 1000))
                print(json.dumps({"key": m.partition_key(), "text": m.data().decode("utf-8", "replace"),
                                  "properties": m.properties()}), flush=True)
                c.acknowledge(m)
        else:
            raise SystemExit("unknown command " + cmd)
    finally:
        client.close()


if __name__ == "__main__":
    main()
