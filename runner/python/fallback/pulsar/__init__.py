"""Stand-in for the `pulsar` package (pulsar-client) when it is not installed: just what a
Pulsar Function needs to import. fmesh-runner's shim puts this on sys.path only as a fallback."""


class Function(object):
    """Interface for Pulsar Functions: implement process(self, input, context)."""

    def process(self, input, context):
        raise NotImplementedError("Function.process must be implemented")


class SerDe(object):
    def serialize(self, input):
        raise NotImplementedError

    def deserialize(self, input_bytes):
        raise NotImplementedError
