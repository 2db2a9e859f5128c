# A native Python function (no SDK), as Pulsar's docs show.
def process(input):
    return "{}!".format(input)
