"""Generate Keptn webhook-service configuration for PagerDuty, proven before it is written."""

__version__ = "0.1.0"
