"""The harness of the Python tests (tests/test_python*.py): puts the
bindings on sys.path, points POLCA_LIBRARY at the library built here, and
runs @test functions, printing ok/FAIL/skip lines and the RESULT line that
tests/run.sh reads. Not a test itself (run.sh runs test_*.py only)."""
import atexit
import os
import shutil
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("POLCA_LIBRARY",
                      os.path.join(ROOT, os.environ.get("LIBOUT", "lib"), "libpolca.so.0"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

TESTS = []


class Skip(Exception):
    pass


def test(fn):
    TESTS.append(fn)
    return fn


def skip_if_sanitized():
    if os.environ.get("POLCA_SANITIZED"):
        # ctypes cannot load a sanitizer-instrumented library into an
        # uninstrumented interpreter; the plain build runs these tests.
        print("skip python: not under sanitizers")
        print("RESULT 0 0 1")
        sys.exit(0)


def tmpdir():
    """A temporary directory removed when the test program exits."""
    d = tempfile.mkdtemp(prefix="polca_py_")
    atexit.register(shutil.rmtree, d, True)
    return d


def expect_error(status, fn, *args, mentions=None, **kwargs):
    """fn(*args) must raise PolcaError with this status (and a message
    containing `mentions`); returns the exception."""
    import polca
    try:
        fn(*args, **kwargs)
    except polca.PolcaError as e:
        assert e.status == status, f"status {e.status} ({e.message}), expected {status}"
        assert e.message, "empty message"
        if mentions is not None:
            assert mentions in e.message, f"message {e.message!r} does not mention {mentions!r}"
        return e
    raise AssertionError(f"no PolcaError (expected status {status})")


def expect_raises(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError(f"no {exc_type.__name__}")


def run():
    passed = failed = skipped = 0
    for fn in TESTS:
        try:
            fn()
            print(f"ok {fn.__name__}")
            passed += 1
        except Skip as s:
            print(f"skip {fn.__name__}: {s}")
            skipped += 1
        except Exception:
            print(f"FAIL {fn.__name__}")
            traceback.print_exc(file=sys.stdout)
            failed += 1
        sys.stdout.flush()
    print(f"RESULT {passed} {failed} {skipped}")
    sys.exit(1 if failed else 0)
