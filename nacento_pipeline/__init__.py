"""nacento_pipeline: PIM product image galleries from S3-compatible storage into Magento 2.4.8, on Dagster."""
