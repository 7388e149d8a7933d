"""Object stores behind one small protocol: S3 (boto3, any endpoint) and a local folder."""
