"""The `polca` console command of a pip-installed package: execs the CLI
binary bundled in this package (polca/bin/polca, built from tools/polca by
the package's build backend) with the same arguments, so its output and
exit status are the CLI's own. Importing this module loads no library."""
import os
import sys


def main():
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "polca")
    if not os.access(exe, os.X_OK):
        sys.stderr.write(f"polca: the bundled command-line tool {exe} is missing; this "
                         "copy of the package was not built by `pip install "
                         "./bindings/python` (build the CLI with `make cli`: build/bin/polca)\n")
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(exe, ["polca"] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
