"""The machine core: the CPU, guest RAM, the port bus and the board on it, time, interrupts and snapshots.

Nothing here knows a file format or a command line; the front ends build on it.
"""
