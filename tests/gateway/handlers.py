"""Functions the gateway's serving tests register: a Lambda proxy handler and an authorizer."""

from __future__ import annotations

import json
from typing import Any


def proxy(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answers as a Lambda proxy integration must, echoing what it was sent."""
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Handled-By": "proxy"},
        "body": json.dumps(
            {
                "resource": event["resource"],
                "path": event["path"],
                "method": event["httpMethod"],
                "query": event["queryStringParameters"],
                "pathParameters": event["pathParameters"],
                "stage": event["requestContext"]["stage"],
                "body": event["body"],
            }
        ),
    }


def broken_proxy(event: dict[str, Any], context: Any) -> str:
    """Answers what a proxy integration cannot use."""
    return "not a proxy response"


def token_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Allows the token ``let-me-in``, denies ``deny``, is Unauthorized for the rest."""
    token = event["authorizationToken"]
    if token not in ("let-me-in", "deny"):
        raise Exception("Unauthorized")
    return {
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if token == "let-me-in" else "Deny",
                    "Resource": event["methodArn"],
                }
            ],
        },
        "context": {"tier": "gold"},
    }
