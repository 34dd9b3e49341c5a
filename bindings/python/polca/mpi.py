"""Work spread over MPI ranks from Python (polca/comm.h, polca/mpi.h;
docs/python.md "Several processes"): a libpolca communicator from an mpi4py
communicator, through the MPI module libpolca_mpi.so.0.

    from mpi4py import MPI
    ctx = polca.Context(backend="cpu", comm=MPI.COMM_WORLD)   # or ctx.set_comm(...)

The module is looked up, in order: the POLCA_MPI_MODULE environment
variable (a path), beside the libpolca that was loaded (the wheel bundles it
there when it was built with mpicc present), then the system loader. It must
link the same MPI library as mpi4py.
"""
import ctypes
import os

from ._native import lib, PolcaError, Native, MAJOR, _i32, _i64, _f64, _p, _s

_module = None


def _candidates():
    env = os.environ.get("POLCA_MPI_MODULE")
    if env:
        yield env
    name = f"libpolca_mpi.so.{MAJOR}"
    here = os.path.dirname(getattr(lib, "_name", "") or "")
    if here:
        yield os.path.join(here, name)
    yield name


def module():
    """The loaded MPI module (ctypes.CDLL); ImportError naming the paths
    tried when it cannot be loaded."""
    global _module
    if _module is not None:
        return _module
    errors = []
    for path in _candidates():
        try:
            # RTLD_GLOBAL: MPI's plugins expect libmpi's symbols global
            m = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        m.polca_mpi_comm_create_f.restype = _i32
        m.polca_mpi_comm_create_f.argtypes = [_i64, _f64, ctypes.POINTER(_p)]
        m.polca_mpi_last_error.restype = _s
        m.polca_mpi_last_error.argtypes = []
        _module = m
        return m
    raise ImportError("the MPI module libpolca_mpi.so.0 is not found (it is built where "
                      "mpicc is found; set POLCA_MPI_MODULE to its path). Tried:\n  "
                      + "\n  ".join(errors))


def comm_native(comm, timeout=0.0):
    """A polca_comm handle (as a Native) over an mpi4py communicator.
    Collective over comm. timeout: seconds a collective may wait (0: the
    POLCA_MPI_TIMEOUT environment variable, else 600)."""
    py2f = getattr(comm, "py2f", None)
    if py2f is None:
        raise TypeError(f"comm: expected an mpi4py communicator (with py2f()), got "
                        f"{type(comm).__name__}")
    m = module()
    out = _p()
    status = m.polca_mpi_comm_create_f(int(py2f()), float(timeout), ctypes.byref(out))
    if status:
        raise PolcaError(status, m.polca_mpi_last_error().decode("utf-8", "replace"),
                         "polca_mpi_comm_create_f")
    return Native(out.value, lib.polca_comm_destroy)
