"""Pure domain logic: no Dagster, no boto3, no SQL."""
