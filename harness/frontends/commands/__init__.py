"""One module per command of ``python -m pmtimer_harness``.

Each module has ``add_to(commands)``, which adds its subcommand(s) and sets
``handler``, the function that runs it and returns the exit status.
"""
