# Collects every guest under the test paths (asm/) as a pytest item.
pytest_plugins = ["pmtimer_harness.frontends.pytest_plugin"]
