"""The boto3 S3 client, built through dagster-aws's `S3Resource`.

`S3Resource` gives the region, endpoint, profile, credentials, retries and SSL; this adds what an
S3-compatible store needs that `S3Resource` does not set.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from dagster_aws.s3 import S3Resource
from pydantic import Field


class S3ClientResource(S3Resource):
    """`S3Resource` with path-style addressing (MinIO), a sized pool and botocore's adaptive retries.

    The connection pool is sized for the ETag snapshot's threads; credentials left unset come from the
    standard AWS chain.
    """

    path_style: bool = Field(
        default=False, description="Path-style addressing (MinIO, most self-hosted servers)."
    )
    max_pool_connections: int = Field(
        default=32, description="Connections the client keeps (one per snapshot thread)."
    )
    max_attempts: int = Field(
        default=8, description="Attempts per request, in botocore's adaptive retry mode."
    )

    def get_client(self) -> Any:
        """A boto3 S3 client from the resource's fields and the botocore Config above."""
        # S3Resource.get_client builds its client from the same fields but takes no botocore Config for
        # addressing style and pool size, so the client is built here from the same fields.
        config = Config(
            retries={"mode": "adaptive", "max_attempts": self.max_attempts},
            s3={"addressing_style": "path" if self.path_style else "auto"},
            max_pool_connections=self.max_pool_connections,
        )
        session = boto3.session.Session(profile_name=self.profile_name)
        return session.client(
            "s3",
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            use_ssl=self.use_ssl,
            verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=config,
        )
