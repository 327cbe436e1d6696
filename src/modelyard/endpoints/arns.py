"""ARNs of SageMaker resources: ``arn:aws:sagemaker:<region>:<account>:<type>/<name>``.

As in AWS, the name is spelled in lower case in the ARN (names are unique whatever their
case), and the region and account are the platform's settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.endpoints.errors import InvalidParameterValue, ResourceNotFound
from modelyard.storage.tags import ResourceType

__all__ = ["Arns"]

_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):([0-9]{12}):([a-z\-]+)/(.+)")


@dataclass(frozen=True, kw_only=True)
class Arns:
    """Makes and reads the ARNs of one region and account.

    >>> arns = Arns(region="us-east-1", account_id="000000000000")
    >>> arns.of(ResourceType.ENDPOINT, "Churn")
    'arn:aws:sagemaker:us-east-1:000000000000:endpoint/churn'
    """

    #: The region in every ARN.
    region: str
    #: The 12-digit account in every ARN.
    account_id: str

    def of(self, resource: ResourceType, name: str) -> str:
        """The ARN of the resource ``name`` of kind ``resource``."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource.value}/{name.lower()}"

    def parse(self, arn: str) -> tuple[ResourceType, str]:
        """The kind and (lower-case) name of the resource ``arn`` names.

        InvalidParameterValue if it is no SageMaker ARN or names a kind of resource that
        cannot be tagged here; ResourceNotFound if it belongs to another region or account.
        """
        match = _ARN.fullmatch(arn)
        if match is None:
            raise InvalidParameterValue(f"{arn!r} is not a SageMaker resource ARN")
        region, account, kind, name = match.groups()
        try:
            resource = ResourceType(kind)
        except ValueError:
            raise InvalidParameterValue(
                f"resources of type {kind!r} are not supported: only models, endpoint "
                "configs and endpoints"
            ) from None
        if (region, account) != (self.region, self.account_id):
            raise ResourceNotFound(f'Could not find resource "{arn}".')
        return resource, name
