import sys

try:
    from pmtimer_harness.frontends.cli import entry_point
except KeyboardInterrupt:
    # Ctrl-C while Python is still loading the harness: the one line and status of any later Ctrl-C.
    from pmtimer_harness.frontends.commands.common import INTERRUPTED_STATUS

    print("harness: interrupted", file=sys.stderr)
    sys.exit(INTERRUPTED_STATUS)

sys.exit(entry_point())
