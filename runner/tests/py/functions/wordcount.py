# In the style of Pulsar's WordCountFunction and user-config examples, unchanged API use.
from pulsar import Function


class WordCountFunction(Function):
    def process(self, item, context):
        logger = context.get_logger()
        separator = context.get_user_config_value("separator") or " "
        words = [w for w in item.split(separator) if w]
        for word in words:
            context.incr_counter(word, 1)
        context.record_metric("words", len(words))
        counts = ",".join("%s=%d" % (w, context.get_counter(w)) for w in sorted(set(words)))
        context.publish(context.get_user_config_value("counts-topic"), counts,
                        properties={"function": context.get_function_name()})
        logger.info("counted %d words from %s", len(words), context.get_current_message_topic_name())
        if context.get_secret("GREETING") is None:
            raise ValueError("secret missing")
        return "%s:%d:%s" % (context.get_secret("GREETING"), len(words), context.get_message_key())
