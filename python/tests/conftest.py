import os
import sys

# ctest sets PYTHONPATH to <build>/python; a plain `pytest python/tests` from
# the repository root finds the package in build/python (or $FRUGAL_BUILD_DIR).
try:
    import frugal  # noqa: F401
except ImportError:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    build = os.environ.get("FRUGAL_BUILD_DIR", os.path.join(root, "build"))
    sys.path.insert(0, os.path.join(build, "python"))
    import frugal  # noqa: F401
