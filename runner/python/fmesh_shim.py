"""fmesh-runner's Python host: runs a Pulsar Function written in Python, unchanged.

Started by the runner as `python3 -u fmesh_shim.py FILE CLASSNAME`; speaks the exec frame
protocol (runner/PROTOCOL.md) on the original stdout/stdin. The user's prints go to stderr.
`CLASSNAME` is Pulsar's `--classname`: `module.Class` (a pulsar.Function subclass, or any
class with `process(self, input, context)`) or `module.function` (a plain `f(input)`).
"""

# Only cheap modules at start-up: `inspect` (ast, dis, enum…), `logging` and `traceback` cost
# tens of milliseconds each, and the real `pulsar` package (the C++ client) hundreds, so they
# are imported when first needed. Start-up is part of the instance's cost (runner/README.md).
import json
import os
import struct
import sys

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


def read_raw_frame():
    """One frame with its header still JSON bytes: a message's header is parsed only when
    the function asks its context about the message."""
    (rest,) = struct.unpack(">I", _read_exact(4))
    data = _read_exact(rest)
    (hlen,) = struct.unpack(">I", data[1:5])
    return data[0], data[5 : 5 + hlen], data[5 + hlen :]


def read_frame():
    kind, raw, body = read_raw_frame()
    return kind, json.loads(raw) if raw else {}, body


def write_raw_frame(kind, h, body=b""):
    _OUT.write(struct.pack(">IBI", 1 + 4 + len(h) + len(body), kind, len(h)) + h + body)


def write_frame(kind, header, body=b""):
    write_raw_frame(kind, json.dumps(header).encode("utf-8"), body)


# The RESULT headers of a successful call, encoded once.
_OK_OUTPUT = json.dumps({"ok": True, "output": True}).encode("utf-8")
_OK_NONE = json.dumps({"ok": True, "output": False}).encode("utf-8")


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


def _effect_logger(ctx):
    """A logger whose records become log effects of the current call (stderr between calls)."""
    import logging

    class EffectLogHandler(logging.Handler):
        def emit(self, record):
            msg = self.format(record)
            if ctx._in_call:
                ctx._effects.append(({"op": "log", "level": record.levelname, "msg": msg}, b""))
            else:
                sys.stderr.write(msg + "\n")

    logger = logging.getLogger("fmesh.function." + str(ctx._init.get("name")))
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(EffectLogHandler())
    return logger


def _real_pulsar_installed():
    """Whether pulsar-client (the package with the `_pulsar` extension) is importable, found
    without importing it."""
    from importlib.util import find_spec

    return find_spec("pulsar") is not None and find_spec("_pulsar") is not None


def _context_class():
    """Subclasses Pulsar's Context when the function's code loaded the real `pulsar` package,
    so isinstance checks hold; otherwise the client is not imported at all."""
    base = object
    if "pulsar" in sys.modules and hasattr(sys.modules["pulsar"], "Context"):
        try:
            from pulsar.functions.context import Context as base
        except Exception:
            base = object
    return type("ContextImpl", (_Context, base), {})


class _Context(object):
    """What Pulsar's Python Context offers, answered from INIT and the current message."""

    def __init__(self, init):
        self._init = init
        self._counters = dict(init.get("counters") or {})
        self._effects = []
        self._in_call = False
        self._raw = b""
        self._parsed = None
        self._logger = None

    @property
    def _msg(self):
        if self._parsed is None:
            self._parsed = json.loads(self._raw) if self._raw else {}
        return self._parsed

    def _next(self, raw):
        self._raw, self._parsed = raw, None

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
        if self._logger is None:
            self._logger = _effect_logger(self)
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
    """The function object `classname` names; the stand-in `pulsar` goes on the path only
    when pulsar-client is not installed (the real package wins)."""
    import importlib

    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    if not _real_pulsar_installed():
        for name in [m for m in sys.modules if m == "pulsar" or m.startswith("pulsar.")]:
            del sys.modules[name]
        sys.path.insert(0, os.environ.get("FMESH_PULSAR_FALLBACK", ""))
    stem = os.path.splitext(os.path.basename(path))[0]
    module_name, _, attr = classname.rpartition(".")
    module = importlib.import_module(module_name or stem)
    if not attr or attr == stem and not hasattr(module, attr):
        attr = None
    target = getattr(module, attr) if attr else _pick(module)
    if isinstance(target, type):
        return target()
    return target


def _pick(module):
    import pulsar

    for name in sorted(vars(module)):
        obj = getattr(module, name)
        if isinstance(obj, type) and obj.__module__ == module.__name__ and issubclass(obj, pulsar.Function):
            return obj
    if hasattr(module, "process"):
        return module.process
    raise ImportError("no pulsar.Function subclass or process() in %s" % module.__name__)


def invoker(fn):
    """`call(value, ctx)`: Pulsar's `Function.process(input, context)`, or a plain `f(input)`."""
    if hasattr(fn, "process") and not isinstance(fn, type(invoker)):
        return fn.process
    return lambda value, ctx: fn(value)


def _print_exc():
    import traceback

    traceback.print_exc()


def main():
    path, classname = sys.argv[1], sys.argv[2]
    kind, init, _ = read_frame()
    if kind != INIT:
        raise SystemExit("expected INIT")
    try:
        fn = load_function(path, classname)
        ctx = _context_class()(init)
        call = invoker(fn)
    except Exception as e:
        write_frame(READY, {"error": "%s: %s" % (type(e).__name__, e)})
        _OUT.flush()
        _print_exc()
        return 1
    write_frame(READY, {})
    _OUT.flush()
    deserialize, serialize = _SERDE.deserialize, _SERDE.serialize
    while True:
        try:
            kind, raw, body = read_raw_frame()
        except EOFError:
            return 0
        if kind != MESSAGE:
            continue
        ctx._next(raw)
        ctx._effects = []
        ctx._in_call = True
        try:
            out = call(deserialize(body), ctx)
            result = (_OK_NONE, b"") if out is None else (_OK_OUTPUT, serialize(out))
        except Exception as e:
            _print_exc()
            result = (json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}).encode("utf-8"), b"")
        ctx._in_call = False
        for h, b in ctx._effects:
            write_frame(EFFECT, h, b)
        write_raw_frame(RESULT, *result)
        _OUT.flush()


if __name__ == "__main__":
    sys.exit(main())
