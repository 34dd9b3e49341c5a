"""PEP 517 build backend for the polca Python package (standard library only).

`pip install ./bindings/python` and `pip wheel ./bindings/python` call this
module (pyproject.toml: build-backend, backend-path). It needs nothing from
the network - no setuptools, no wheel package - so the install works offline
once the C build dependencies (`make deps`) are present.

build_wheel runs the repository's Makefile (two folders up) into a
temporary folder - `make lib cli cuda mpi BUILD=<tmp>/build LIBOUT=<tmp>/lib`;
`cuda` builds the CUDA module only where the Makefile finds nvcc, `mpi` the
MPI module only where it finds mpicc - and writes the wheel zip by hand:

    polca/*.py                      the bindings
    polca/lib/libpolca.so.0         the library (found first by _native.py)
    polca/lib/libpolca_cuda.so.0    the CUDA module, when built (libpolca
                                    loads it from beside itself)
    polca/lib/libpolca_mpi.so.0     the MPI module, when built (polca.mpi and
                                    the CLI under mpirun load it from beside
                                    libpolca)
    polca/bin/polca                 the CLI (its runpath $ORIGIN/../lib finds
                                    the library above); the console command
                                    `polca` (polca._cli:main) execs it
    polca-<v>.dist-info/            METADATA, WHEEL, entry_points.txt, RECORD

The wheel is tagged py3-none-<platform> (it holds native code, loaded by
ctypes, but no CPython extension). Environment: POLCA_MAKE_JOBS (make -j,
default: the CPU count), POLCA_CUDA=0 (skip the CUDA module), POLCA_MPI=0
(skip the MPI module), MAKE, and the
Makefile's own variables (CC, CFLAGS, NVCC, ...) as usual.

build_sdist is refused: this folder alone does not hold the C sources.
"""
import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class BuildError(RuntimeError):
    pass


# ---- pyproject.toml [project] ---------------------------------------------
def _read_project():
    path = os.path.join(HERE, "pyproject.toml")
    try:
        import tomllib  # Python >= 3.11
        with open(path, "rb") as f:
            data = tomllib.load(f)
        return data["project"]
    except ImportError:
        pass
    # Python < 3.11: the subset this pyproject.toml uses - [tables] with
    # `key = "string"` and `key = ["string", ...]` on one line.
    project, table = {}, None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[([\w.-]+)\]", line)
            if m:
                table = m.group(1)
                continue
            if table not in ("project", "project.scripts"):
                continue
            m = re.fullmatch(r'([\w-]+)\s*=\s*(.+)', line)
            if not m:
                raise BuildError(f"{path}:{n}: cannot read '{line}'")
            key, raw = m.groups()
            if raw.startswith("["):
                value = re.findall(r'"([^"]*)"', raw)
            elif raw.startswith('"') and raw.endswith('"'):
                value = raw[1:-1]
            else:
                raise BuildError(f"{path}:{n}: cannot read the value of '{key}'")
            if table == "project":
                project[key] = value
            else:
                project.setdefault("scripts", {})[key] = value
    return project


def _dist_name(project):
    return re.sub(r"[-_.]+", "_", project["name"]).lower()


def _metadata(project):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}",
             f"Version: {project['version']}"]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    for dep in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    return "\n".join(lines) + "\n"


def _entry_points(project):
    scripts = project.get("scripts", {})
    if not scripts:
        return None
    return "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())


def _platform_tag():
    return re.sub(r"[^\w]", "_", sysconfig.get_platform())


def _tag():
    return f"py3-none-{_platform_tag()}"


def _wheel_file():
    return ("Wheel-Version: 1.0\nGenerator: polca _polca_build\n"
            f"Root-Is-Purelib: false\nTag: {_tag()}\n")


# ---- The C build ------------------------------------------------------------
def _make(tmp):
    if not os.path.isfile(os.path.join(ROOT, "Makefile")) or \
            not os.path.isdir(os.path.join(ROOT, "src")):
        raise BuildError(
            f"the libpolca sources are not at {ROOT} (two folders above "
            f"{HERE}): build the package from the repository's bindings/python "
            "(pip install ./bindings/python in a checkout)")
    make = os.environ.get("MAKE", "make")
    jobs = os.environ.get("POLCA_MAKE_JOBS") or str(os.cpu_count() or 1)
    goals = ["lib", "cli"]
    if os.environ.get("POLCA_CUDA", "1") != "0":
        goals.append("cuda")  # builds nothing where the Makefile finds no nvcc
    if os.environ.get("POLCA_MPI", "1") != "0":
        goals.append("mpi")  # builds nothing where the Makefile finds no mpicc
    build, libout = os.path.join(tmp, "build"), os.path.join(tmp, "lib")
    cmd = [make, "-C", ROOT, f"-j{jobs}", f"BUILD={build}", f"LIBOUT={libout}"] + goals
    # make's own output goes to stderr: a frontend may read stdout.
    print("polca build backend: " + " ".join(cmd), file=sys.stderr, flush=True)
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a jobserver of an outer make
        env.pop(k, None)
    try:
        rc = subprocess.call(cmd, env=env, stdout=sys.stderr.fileno())
    except OSError as e:
        raise BuildError(f"cannot run '{make}' ({e}): building polca needs make and a "
                         "C compiler (run `make deps` in the repository, as root)") from e
    if rc != 0:
        raise BuildError(f"building libpolca failed ({' '.join(cmd)} exited with {rc}); "
                         "if headers or libraries are missing, run `make deps` in "
                         f"{ROOT} (as root)")
    files = {"polca/lib/libpolca.so.0": os.path.join(libout, "libpolca.so.0"),
             "polca/bin/polca": os.path.join(build, "bin", "polca")}
    cuda = os.path.join(libout, "libpolca_cuda.so.0")
    if os.path.exists(cuda):
        files["polca/lib/libpolca_cuda.so.0"] = cuda
    mpi = os.path.join(libout, "libpolca_mpi.so.0")
    if os.path.exists(mpi):
        files["polca/lib/libpolca_mpi.so.0"] = mpi
    for arc, path in files.items():
        if not os.path.isfile(path):
            raise BuildError(f"make succeeded but {path} is missing (for {arc})")
    return files


# ---- The wheel --------------------------------------------------------------
def _record_line(arc, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{arc},sha256={digest.decode()},{len(data)}"


def _python_files():
    pkg = os.path.join(HERE, "polca")
    out = {}
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py") or name == "py.typed":
                path = os.path.join(dirpath, name)
                out[os.path.relpath(path, HERE).replace(os.sep, "/")] = path
    return out


def _write_wheel(wheel_directory, project, native):
    name, version = _dist_name(project), project["version"]
    dist_info = f"{name}-{version}.dist-info"
    wheel_name = f"{name}-{version}-{_tag()}.whl"
    final = os.path.join(wheel_directory, wheel_name)
    partial = final + ".part"
    record = []

    def add(zf, arc, data, mode):
        info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o100000 | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
        record.append(_record_line(arc, data))

    with zipfile.ZipFile(partial, "w") as zf:
        for arc, path in sorted({**_python_files(), **native}.items()):
            with open(path, "rb") as f:
                data = f.read()
            executable = arc in native and (arc.startswith("polca/bin/") or ".so" in arc)
            add(zf, arc, data, 0o755 if executable else 0o644)
        add(zf, f"{dist_info}/METADATA", _metadata(project).encode(), 0o644)
        add(zf, f"{dist_info}/WHEEL", _wheel_file().encode(), 0o644)
        ep = _entry_points(project)
        if ep:
            add(zf, f"{dist_info}/entry_points.txt", ep.encode(), 0o644)
        record.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o100644) << 16
        zf.writestr(info, "\n".join(record) + "\n")
    os.replace(partial, final)
    return wheel_name


# ---- PEP 517 hooks ----------------------------------------------------------
def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project = _read_project()
    dist_info = f"{_dist_name(project)}-{project['version']}.dist-info"
    path = os.path.join(metadata_directory, dist_info)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata(project))
    with open(os.path.join(path, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file())
    ep = _entry_points(project)
    if ep:
        with open(os.path.join(path, "entry_points.txt"), "w", encoding="utf-8") as f:
            f.write(ep)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _read_project()
    tmp = tempfile.mkdtemp(prefix="polca-build-")
    try:
        native = _make(tmp)
        os.makedirs(wheel_directory, exist_ok=True)
        return _write_wheel(wheel_directory, project, native)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_sdist(sdist_directory, config_settings=None):
    raise BuildError(
        "polca has no source distribution: the package is built from a libpolca "
        "checkout (its Makefile and C sources two folders up), so build a wheel "
        "instead (pip wheel ./bindings/python) or archive the whole repository")
