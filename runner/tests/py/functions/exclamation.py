# Pulsar's own example (pulsar/examples/python-examples/exclamation.py), unchanged.
from pulsar import Function


class ExclamationFunction(Function):
    def __init__(self):
        pass

    def process(self, input, context):
        return input + '!'
