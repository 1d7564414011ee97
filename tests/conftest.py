"""Every test proves for real: the proof cache of earlier runs (proofcache) is off, in this process and in the
commands the tests run, unless a test points it at a folder of its own."""

import os

os.environ["KEPTN_PAGERDUTY_CACHE"] = "off"
