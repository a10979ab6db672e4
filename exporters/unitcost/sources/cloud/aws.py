"""boto3 clients with one retry/timeout policy, and AWS errors as sentences.

Credentials come from botocore's default chain: environment, shared files, the EKS web
identity token (IRSA: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), then the instance profile.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from unitcost.config.clouds import AwsSettings


def client(
    service: str, region: str, settings: AwsSettings, endpoint_url: str | None = None
) -> Any:
    """A boto3 client; botocore's retry handler backs off on throttling ("adaptive" also
    rate-limits the client side once throttled)."""
    config = BotoConfig(
        region_name=region,
        retries={"mode": settings.retries.mode, "max_attempts": settings.retries.max_attempts},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        user_agent_extra="unitcost",
    )
    return boto3.session.Session().client(service, config=config, endpoint_url=endpoint_url)


#: What each caller needs in its IAM policy, named in the error when it is missing.
ACCESS_HINTS = {
    "GetProducts": "pricing:GetProducts",
    "DescribeSpotPriceHistory": "ec2:DescribeSpotPriceHistory",
    "GetCostAndUsage": "ce:GetCostAndUsage",
}


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a failed AWS call, naming what to fix."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            f"no usable AWS credentials ({exc}): the default chain found none (environment, "
            "~/.aws, IRSA web identity, instance profile); on EKS annotate the service account "
            "with eks.amazonaws.com/role-arn"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        operation = exc.operation_name
        message = str(error.get("Message", "")).strip()
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
        if code in {"ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequests"}:
            tries = f" after {int(attempts) + 1} attempts" if attempts is not None else ""
            return f"{operation} throttled by AWS ({code}){tries}: will retry next poll"
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            needed = ACCESS_HINTS.get(operation, operation)
            return f"{operation} denied ({code}): the role needs {needed}. {message}".strip()
        return f"{operation} failed ({code}): {message}".rstrip(": ")
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, BotoCoreError):
        return f"AWS call failed: {exc}"
    return f"{type(exc).__name__}: {exc}"
