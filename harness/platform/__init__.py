"""The platform around the CPU: the firmware's ACPI tables that tell a guest where the devices are."""
