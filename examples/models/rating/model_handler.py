"""An MMS handler predicting ratings: (user, item) pairs in, one score out per pair.

The request is what the rating API's mapping template builds (``examples/apis``):
``{"instances": [{"in0": ["<user>"], "in1": ["<item>"]}, ...]}``, the input format of
SageMaker's factorization machines; the answer is theirs too:
``{"predictions": [{"scores": [<rating>]}, ...]}``. The scores come from small user and
item vectors derived from the names, so the same pair always gets the same rating, from
1.0 to 5.0. It stands in for the trained rating model of the built-in models.
"""

import hashlib
import json


def _vector(name, size=4):
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [byte / 255.0 for byte in digest[:size]]


def rating(user, item):
    """The predicted rating of ``item`` by ``user``, 1.0 to 5.0, to one decimal."""
    pairs = zip(_vector("user:" + user), _vector("item:" + item), strict=True)
    affinity = sum(u * i for u, i in pairs)  # 0 to 4: four products of 0 to 1
    return round(1.0 + affinity, 1)


def handle(data, context):
    if data is None:  # MMS calls with no data when it loads the model
        return None
    answers = []
    for idx, row in enumerate(data):
        body = row.get("body") or row.get("data") or b"{}"
        try:
            document = json.loads(body)
            pairs = [(str(i["in0"][0]), str(i["in1"][0])) for i in document["instances"]]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            context.set_response_status(400, "Bad Request", idx)
            answers.append(f"expected {{'instances': [{{'in0': [user], 'in1': [item]}}]}}: {exc}")
            continue
        context.set_response_content_type(idx, "application/json")
        predictions = [{"scores": [rating(user, item)]} for user, item in pairs]
        answers.append(json.dumps({"predictions": predictions}))
    return answers
