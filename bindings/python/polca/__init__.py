"""libpolca for Python: hidden breakthroughs in neural-network training.

    import polca
    with polca.Context(backend="cpu") as ctx:
        model = polca.Model.transformer(ctx, n_layers=1, d_model=16, n_heads=2,
                                        d_vocab=10, n_ctx=8)
        ...

Every failing call raises polca.PolcaError carrying the status code and the
library's message. docs/python.md is the guide; the C headers
(include/polca/*.h) document every option.
"""
from ._native import PolcaError, status_string, lib as _lib
from .core import Context, Options, Handle, LOG_DEBUG, LOG_INFO, LOG_WARNING
from .model import (Data, Model, TensorInfo, Dirderivs, transformer_config,
                    transformer_config_from_safetensors, read_safetensors_header)
from .checkpoints import Checkpoints
from .eigen import eigen_solve, EigenResult
from .basis import Basis, BasisInfo
from .trajectories import (Trajectories, POLCA, FIRST_ORDER, FISHER, LCA, EXACT_LOSS,
                           LOSS_CHANGE)
from .cluster import (hdbscan, HdbscanResult, Clustering, ClusterLabels, ClusterInfo,
                      Scores)

# Status codes (include/polca/core.h; values fixed forever).
OK = 0
ERR_INVALID_ARGUMENT = -1
ERR_OUT_OF_MEMORY = -2
ERR_BACKEND_UNAVAILABLE = -3
ERR_BACKEND = -4
ERR_IO = -5
ERR_CORRUPT = -6
ERR_VERSION = -7
ERR_UNKNOWN_OPTION = -8
ERR_OPTION_TYPE = -9
ERR_WRONG_CONTEXT = -10
ERR_NOT_FINITE = -11
ERR_NOT_CONVERGED = -12
ERR_RANK_DEFICIENT = -13
ERR_UNSUPPORTED = -14
ERR_CANCELLED = -15
ERR_STATE = -16
ERR_LAYOUT_MISMATCH = -17
ERR_INTERNAL = -18
ERR_COMM = -19


def version():
    """The loaded library's version string, e.g. "0.1.0"."""
    return _lib.polca_version_string().decode()


__all__ = ["Context", "Options", "Handle", "PolcaError", "status_string", "version",
           "LOG_DEBUG", "LOG_INFO", "LOG_WARNING", "Data", "Model", "TensorInfo", "Dirderivs",
           "transformer_config", "transformer_config_from_safetensors",
           "read_safetensors_header", "Checkpoints", "eigen_solve", "EigenResult", "Basis",
           "BasisInfo", "Trajectories", "POLCA", "FIRST_ORDER", "FISHER", "LCA", "EXACT_LOSS",
           "LOSS_CHANGE", "hdbscan", "HdbscanResult", "Clustering", "ClusterLabels",
           "ClusterInfo", "Scores"]
