import atexit
import os
import shutil
import tempfile

# Keep the tests' assembled guests out of the user's cache, and leave nothing behind.
if "HARNESS_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="harness-test-cache-")
    os.environ["HARNESS_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
