# Collects every guest under the test paths (asm/) as a pytest item.
pytest_plugins = ["harness.pytest_plugin"]
