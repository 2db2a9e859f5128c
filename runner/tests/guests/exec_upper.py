"""An exec-runtime guest written against runner/PROTOCOL.md directly (no shim).

Upper-cases each message, counts it, logs, publishes the original to INIT's user_config
"audit" topic when set. On a payload "crash" it exits abruptly the first time (a marker file
next to the env var FMESH_TEST_MARKER remembers), to test restart-and-retry.
"""
import json
import os
import struct
import sys

out = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
inp = sys.stdin.buffer


def read_exact(n):
    b = b""
    while len(b) < n:
        c = inp.read(n - len(b))
        if not c:
            sys.exit(0)
        b += c
    return b


def read():
    (rest,) = struct.unpack(">I", read_exact(4))
    d = read_exact(rest)
    (hl,) = struct.unpack(">I", d[1:5])
    return d[0], (json.loads(d[5:5 + hl]) if hl else {}), d[5 + hl:]


def write(kind, header, body=b""):
    h = json.dumps(header).encode()
    out.write(struct.pack(">IBI", 5 + len(h) + len(body), kind, len(h)) + h + body)


kind, init, _ = read()
write(2, {})
out.flush()
audit = (init.get("user_config") or {}).get("audit")
while True:
    kind, header, body = read()
    if body == b"crash":
        marker = os.environ.get("FMESH_TEST_MARKER")
        if marker and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(3)
    if body == b"fail":
        write(5, {"ok": False, "error": "ValueError: fail"})
        out.flush()
        continue
    write(4, {"op": "counter", "key": "seen", "amount": 1})
    write(4, {"op": "log", "level": "info", "msg": "upper " + header.get("topic", "")})
    if audit:
        write(4, {"op": "publish", "topic": audit, "properties": {"from": "exec"}}, body)
    write(5, {"ok": True, "output": True}, body.upper())
    out.flush()
