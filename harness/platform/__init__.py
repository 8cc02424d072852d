"""What real platforms are: their profiles and sources, the ACPI tables that tell a guest where the devices are.

Plain data and pure functions over the device models; the board that builds a machine from them is in core.
"""
