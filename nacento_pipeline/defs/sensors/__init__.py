"""Sensors: the drop sensor (file-drop imports) and the run-status sensors marking archived batches."""

from nacento_pipeline.defs.sensors.batch_status_sensor import (
    pim_batch_failure_sensor,
    pim_batch_success_sensor,
)
from nacento_pipeline.defs.sensors.pim_drop_sensor import pim_drop_sensor

SENSORS = [pim_drop_sensor, pim_batch_success_sensor, pim_batch_failure_sensor]
