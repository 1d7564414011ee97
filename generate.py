#!/usr/bin/env python3
"""Generate Keptn webhook configuration for PagerDuty: `python generate.py --help`."""

from keptn_pagerduty.cli import main

if __name__ == "__main__":
    main(prog_name="generate.py")
