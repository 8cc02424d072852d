import os
import tempfile

# Keep the tests' assembled guests out of the user's cache.
os.environ.setdefault("HARNESS_CACHE_DIR", tempfile.mkdtemp(prefix="harness-test-cache-"))
