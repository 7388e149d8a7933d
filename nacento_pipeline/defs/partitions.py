"""The dynamic partitions: one partition per PIM batch, key `<type>_<identifier>` from its OK file."""

import dagster as dg

from nacento_pipeline.defs.constants import PARTITIONS_NAME

pim_batches = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)
