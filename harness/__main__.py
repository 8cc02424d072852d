import sys

from pmtimer_harness.frontends.cli import entry_point

sys.exit(entry_point())
