"""The ways in: the command line, the suite table, pytest, plots and the GDB stub."""
