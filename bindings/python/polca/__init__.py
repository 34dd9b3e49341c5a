"""libpolca for Python: hidden breakthroughs in neural-network training.

    import polca
    with polca.Context(backend="cpu") as ctx:
        print(ctx.backend, ctx.device)

Every failing call raises polca.PolcaError carrying the status code and the
library's message.
"""
from ._native import PolcaError, status_string, lib as _lib
from .core import Context, Options, LOG_DEBUG, LOG_INFO, LOG_WARNING


def version():
    """The loaded library's version string, e.g. "0.1.0"."""
    return _lib.polca_version_string().decode()


__all__ = ["Context", "Options", "PolcaError", "status_string", "version",
           "LOG_DEBUG", "LOG_INFO", "LOG_WARNING"]
