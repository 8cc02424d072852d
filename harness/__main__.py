import sys

from pmtimer_harness.frontends.cli import main

sys.exit(main())
