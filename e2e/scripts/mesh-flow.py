#!/usr/bin/env python3
"""Shows a running mesh's message flow, for run.sh.

  mesh-flow.py first  --sink IP [--since EPOCH]        seconds from EPOCH (default: now) until
                                                        the sink has processed a message
  mesh-flow.py rates  MEMBER=IP ... [--seconds S]       msg/s per member from runner metrics
  mesh-flow.py sample --broker URL --topic T [-n N] [--listener NAME]
                                                        N new messages of T, read with the
                                                        official Pulsar client (pulsar-client);
                                                        NAME: the broker's advertised listener

Runner metrics are read from http://<pod IP>:9094/metrics (the host reaches the pod bridge).
"""
import argparse
import sys
import time
import urllib.request

METRICS = ("pulsar_function_received", "pulsar_function_processed_successfully")


def scrape(ip):
    """Sums of the runner's counters (all label sets); None when the pod does not answer."""
    try:
        with urllib.request.urlopen(f"http://{ip}:9094/metrics", timeout=3) as r:
            text = r.read().decode()
    except OSError:
        return None
    sums = dict.fromkeys(METRICS, 0.0)
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        name = series.split("{", 1)[0].removesuffix("_total")
        if name in sums:
            sums[name] += float(value)
    return sums


def first(args):
    since = args.since or time.time()
    while time.time() - since < args.timeout:
        m = scrape(args.sink)
        if m and m["pulsar_function_processed_successfully"] >= 1:
            print(f"{time.time() - since:.1f}")
            return 0
        time.sleep(0.2)
    print(f"no message out of the sink within {args.timeout}s", file=sys.stderr)
    return 1


def rates(args):
    members = [m.split("=", 1) for m in args.members]
    before = {name: scrape(ip) for name, ip in members}
    t0 = time.monotonic()
    time.sleep(args.seconds)
    after = {name: scrape(ip) for name, ip in members}
    dt = time.monotonic() - t0
    print(f"{'member':<12} {'in msg/s':>9} {'out msg/s':>10} {'in total':>9} {'out total':>10}")
    for name, _ in members:
        a, b = before[name], after[name]
        if a is None or b is None:
            print(f"{name:<12} (metrics unreachable)")
            continue
        rin, rout = (round((b[k] - a[k]) / dt, 1) for k in METRICS)
        print(f"{name:<12} {rin:>9} {rout:>10} {int(b[METRICS[0]]):>9} {int(b[METRICS[1]]):>10}")
    return 0


def sample(args):
    import pulsar  # the official client, from the venv run.sh sets up

    client = pulsar.Client(
        args.broker,
        listener_name=args.listener,
        logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error),
    )
    try:
        reader = client.create_reader(args.topic, pulsar.MessageId.latest)
        for _ in range(args.n):
            msg = reader.read_next(timeout_millis=10000)
            print(f"  {msg.data().decode(errors='replace')}")
    finally:
        client.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("first")
    f.add_argument("--sink", required=True)
    f.add_argument("--since", type=float)
    f.add_argument("--timeout", type=float, default=300)
    r = sub.add_parser("rates")
    r.add_argument("members", nargs="+", metavar="MEMBER=IP")
    r.add_argument("--seconds", type=float, default=5)
    s = sub.add_parser("sample")
    s.add_argument("--broker", required=True)
    s.add_argument("--topic", required=True)
    s.add_argument("-n", type=int, default=3)
    s.add_argument("--listener")
    args = p.parse_args()
    return {"first": first, "rates": rates, "sample": sample}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
