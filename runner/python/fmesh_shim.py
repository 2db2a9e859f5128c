"""fmesh-runner's Python host: runs a Pulsar Function written in Python, unchanged.

Started by the runner as `python3 -u fmesh_shim.py FILE CLASSNAME`; speaks the exec frame
protocol (runner/PROTOCOL.md) on the original stdout/stdin. The user's prints go to stderr.
`CLASSNAME` is Pulsar's `--classname`: `module.Class` (a pulsar.Function subclass, or any
class with `process(self, input, context)`) or `module.function` (a plain `f(input)`).
"""

import importlib
import inspect
import json
import logging
import os
import struct
import sys
import time
import traceback

INIT, READY, MESSAGE, EFFECT, RESULT = 1, 2, 3, 4, 5

# Frames go to the original stdout; anything the function prints goes to stderr instead.
_OUT = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr
_IN = sys.stdin.buffer


def _read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = _IN.read(n - len(buf))
        if not chunk:
            raise EOFError("runner closed stdin")
        buf += chunk
    return buf


def read_frame():
    (rest,) = struct.unpack(">I", _read_exact(4))
    data = _read_exact(rest)
    kind = data[0]
    (hlen,) = struct.unpack(">I", data[1:5])
    header = json.loads(data[5 : 5 + hlen]) if hlen else {}
    return kind, header, data[5 + hlen :]


def write_frame(kind, header, body=b""):
    h = json.dumps(header).encode("utf-8")
    _OUT.write(struct.pack(">IBI", 1 + 4 + len(h) + len(body), kind, len(h)) + h + body)


class IdentitySerDe(object):
    """Pulsar's default Python SerDe: int, float, complex or str when the bytes parse as one."""

    _types = [int, float, complex, str]

    def serialize(self, value):
        if type(value) in self._types:
            return str(value).encode("utf-8")
        if type(value) == bytes:
            return value
        raise TypeError("IdentitySerDe cannot serialize object of type %s" % type(value))

    def deserialize(self, input_bytes):
        for typ in self._types:
            try:
                return typ(input_bytes.decode("utf-8"))
            except Exception:
                pass
        return input_bytes


_SERDE = IdentitySerDe()


class _EffectLogHandler(logging.Handler):
    def __init__(self, ctx):
        logging.Handler.__init__(self)
        self.ctx = ctx

    def emit(self, record):
        msg = self.format(record)
        if self.ctx._in_call:
            self.ctx._effects.append(({"op": "log", "level": record.levelname, "msg": msg}, b""))
        else:
            sys.stderr.write(msg + "\n")


def _load_context_base():
    try:
        from pulsar.functions.context import Context as Base  # the real package, if installed

        return Base
    except Exception:
        return object


class ContextImpl(_load_context_base()):
    """What Pulsar's Python Context offers, answered from INIT and the current message."""

    def __init__(self, init):
        self._init = init
        self._counters = dict(init.get("counters") or {})
        self._effects = []
        self._in_call = False
        self._msg = {}
        self._logger = logging.getLogger("fmesh.function." + str(init.get("name")))
        self._logger.setLevel(logging.DEBUG)
        self._logger.propagate = False
        self._logger.addHandler(_EffectLogHandler(self))

    # message
    def get_message_id(self):
        return self._msg.get("message_id")

    # Pulsar's client answers "" for a message without a key.
    def get_message_key(self):
        return self._msg.get("key") or ""

    def get_partition_key(self):
        return self._msg.get("key") or ""

    def get_message_eventtime(self):
        return self._msg.get("event_time")

    def get_message_properties(self):
        return dict(self._msg.get("properties") or {})

    def get_current_message_topic_name(self):
        return self._msg.get("topic")

    # identity
    def get_function_name(self):
        return self._init.get("name")

    def get_function_tenant(self):
        return self._init.get("tenant")

    def get_function_namespace(self):
        return self._init.get("namespace")

    def get_function_id(self):
        return "%s/%s/%s" % (self.get_function_tenant(), self.get_function_namespace(), self.get_function_name())

    def get_function_version(self):
        return "0"

    def get_instance_id(self):
        return self._init.get("instance_id", 0)

    def get_num_instances(self):
        return self._init.get("instance_count", 1)

    def get_cluster_name(self):
        return self._init.get("cluster")

    def get_input_topics(self):
        return list(self._init.get("input_topics") or [])

    def get_output_topic(self):
        return self._init.get("output_topic")

    def get_output_serde_class_name(self):
        return "serde.IdentitySerDe"

    def get_logger(self):
        return self._logger

    # configuration
    def get_user_config_value(self, key):
        return (self._init.get("user_config") or {}).get(key)

    def get_user_config_map(self):
        return dict(self._init.get("user_config") or {})

    def get_secret(self, secret_key):
        return (self._init.get("secrets") or {}).get(secret_key)

    # effects
    def publish(self, topic_name, message, serde_class_name="serde.IdentitySerDe", properties=None,
                compression_type=None, callback=None, message_conf=None):
        conf = message_conf or {}
        header = {"op": "publish", "topic": topic_name,
                  "properties": dict(properties or conf.get("properties") or {})}
        if conf.get("partition_key") is not None:
            header["key"] = conf["partition_key"]
        self._effects.append((header, _SERDE.serialize(message)))
        if callback is not None:
            callback(None, None)

    def ack(self, msgid=None, topic=None):
        self._effects.append(({"op": "ack"}, b""))

    def record_metric(self, metric_name, metric_value):
        self._effects.append(({"op": "metric", "name": metric_name, "value": float(metric_value)}, b""))

    def incr_counter(self, key, amount):
        self._counters[key] = self._counters.get(key, 0) + int(amount)
        self._effects.append(({"op": "counter", "key": key, "amount": int(amount)}, b""))

    def get_counter(self, key):
        return self._counters.get(key, 0)

    def del_counter(self, key):
        amount = self._counters.pop(key, 0)
        self._effects.append(({"op": "counter", "key": key, "amount": -amount}, b""))

    def put_state(self, key, value):
        raise NotImplementedError("fmesh-runner has no state storage")

    def get_state(self, key):
        raise NotImplementedError("fmesh-runner has no state storage")


def load_function(path, classname):
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        import pulsar  # noqa: F401  (the real package wins when installed)

        if not hasattr(pulsar, "Function"):
            raise ImportError
    except ImportError:
        for name in [m for m in sys.modules if m == "pulsar" or m.startswith("pulsar.")]:
            del sys.modules[name]
        sys.path.insert(0, os.environ.get("FMESH_PULSAR_FALLBACK", ""))
    stem = os.path.splitext(os.path.basename(path))[0]
    module_name, _, attr = classname.rpartition(".")
    module = importlib.import_module(module_name or stem)
    if not attr or attr == stem and not hasattr(module, attr):
        attr = None
    target = getattr(module, attr) if attr else _pick(module)
    if inspect.isclass(target):
        return target()
    return target


def _pick(module):
    import pulsar

    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ == module.__name__ and issubclass(obj, pulsar.Function):
            return obj
    if hasattr(module, "process"):
        return module.process
    raise ImportError("no pulsar.Function subclass or process() in %s" % module.__name__)


def invoke(fn, value, ctx):
    if hasattr(fn, "process") and not inspect.isfunction(fn):
        return fn.process(value, ctx)
    return fn(value)


def main():
    path, classname = sys.argv[1], sys.argv[2]
    kind, init, _ = read_frame()
    if kind != INIT:
        raise SystemExit("expected INIT")
    try:
        ctx = ContextImpl(init)
        fn = load_function(path, classname)
    except Exception as e:
        write_frame(READY, {"error": "%s: %s" % (type(e).__name__, e)})
        _OUT.flush()
        traceback.print_exc()
        return 1
    write_frame(READY, {})
    _OUT.flush()
    while True:
        try:
            kind, header, body = read_frame()
        except EOFError:
            return 0
        if kind != MESSAGE:
            continue
        ctx._msg = header
        ctx._effects = []
        ctx._in_call = True
        try:
            out = invoke(fn, _SERDE.deserialize(body), ctx)
            result = ({"ok": True, "output": out is not None}, b"" if out is None else _SERDE.serialize(out))
        except Exception as e:
            traceback.print_exc()
            result = ({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}, b"")
        ctx._in_call = False
        for h, b in ctx._effects:
            write_frame(EFFECT, h, b)
        write_frame(RESULT, *result)
        _OUT.flush()


if __name__ == "__main__":
    sys.exit(main())
