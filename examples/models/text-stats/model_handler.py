"""An unchanged Multi Model Server custom handler: word and character counts of a text.

Written the way SageMaker's multi-model examples write MMS handlers: a service class with
``initialize(context)`` and ``handle(data, context)``, and a module-level ``handle``.
A body that is not UTF-8 text is the client's mistake: that request answers 400 through
``context.set_response_status``, as MMS handlers do, and the others in the batch are
answered as usual.
"""

import json
import os


class TextStatsService:
    def __init__(self):
        self.initialized = False
        self.stopwords = set()

    def initialize(self, context):
        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, "stopwords.txt"), encoding="utf-8") as f:
            self.stopwords = {line.strip() for line in f if line.strip()}
        self.initialized = True

    def handle(self, data, context):
        answers = []
        for idx, row in enumerate(data):
            body = row.get("body") or row.get("data") or b""
            try:
                text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
            except UnicodeDecodeError as exc:
                context.set_response_status(400, "Bad Request", idx)
                answers.append(f"the body is not UTF-8 text: byte {exc.start}: {exc.reason}")
                continue
            words = text.split()
            content = [w for w in words if w.lower().strip(".,;:!?") not in self.stopwords]
            # Without it MMS answers in the request's content type, whatever the body is.
            context.set_response_content_type(idx, "application/json")
            answers.append(
                json.dumps(
                    {"characters": len(text), "words": len(words), "content_words": len(content)}
                )
            )
        return answers


_service = TextStatsService()


def handle(data, context):
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
