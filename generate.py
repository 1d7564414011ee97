#!/usr/bin/env python3
"""Generate Keptn webhook configuration for PagerDuty: `python generate.py --help`."""

from keptn_pagerduty.cli import run

if __name__ == "__main__":
    run(prog_name="generate.py")
