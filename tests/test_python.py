"""Python bindings: the ctypes package against the library built here.
Run by tests/run.sh with Debian's python3 (numpy)."""
import gc
import os
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
os.environ.setdefault("POLCA_LIBRARY",
                      os.path.join(ROOT, os.environ.get("LIBOUT", "lib"), "libpolca.so.0"))

if os.environ.get("POLCA_SANITIZED"):
    # ctypes cannot load a sanitizer-instrumented library into an
    # uninstrumented interpreter; the plain build runs these tests.
    print("skip python: not under sanitizers")
    print("RESULT 0 0 1")
    sys.exit(0)

results = {"passed": 0, "failed": 0, "skipped": 0}
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Skip(Exception):
    pass


@test
def version_matches():
    import polca
    assert polca.version().count(".") == 2


@test
def context_and_errors():
    import polca
    with polca.Context(backend="cpu") as ctx:
        assert ctx.backend == "cpu"
        assert ctx.device.startswith("CPU")
    try:
        polca.Context(backend="cpu", threadz=2)
    except polca.PolcaError as e:
        assert e.status == -8, e.status
        assert "threadz" in e.message
    else:
        raise AssertionError("unknown option accepted")
    try:
        polca.Options(x=[1])
    except TypeError:
        pass
    else:
        raise AssertionError("list option accepted")


@test
def closed_handle_raises_not_crashes():
    import polca
    ctx = polca.Context(backend="cpu")
    ctx.close()
    ctx.close()  # twice is fine
    try:
        ctx.backend
    except ValueError:
        pass
    else:
        raise AssertionError("closed context usable")


@test
def callbacks_reach_python():
    import polca
    ctx = polca.Context(backend="cpu")
    seen = []
    ctx.set_log(lambda level, msg: seen.append((level, msg)), polca.LOG_DEBUG)
    ctx.set_progress(lambda stage, done, total, value: False)
    ctx.set_log(None)
    ctx.set_progress(None)
    del ctx
    gc.collect()


for fn in TESTS:
    try:
        fn()
        print(f"ok {fn.__name__}")
        results["passed"] += 1
    except Skip as s:
        print(f"skip {fn.__name__}: {s}")
        results["skipped"] += 1
    except Exception:
        print(f"FAIL {fn.__name__}")
        traceback.print_exc(file=sys.stdout)
        results["failed"] += 1
print(f"RESULT {results['passed']} {results['failed']} {results['skipped']}")
sys.exit(1 if results["failed"] else 0)
