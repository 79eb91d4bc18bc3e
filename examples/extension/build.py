"""Builds my_c_module with one compiler command, the way setuptools would.

    python build.py [--out DIR]      # writes DIR/my_c_module<EXT_SUFFIX>

Everything the command needs comes from sysconfig, i.e. from the Python
that runs this script: its compiler and flags, where Python.h lives, and
the file-name suffix that its import system looks for (for example
".cpython-311-x86_64-linux-gnu.so").  The module is not linked against
libpython: the symbols are found in the interpreter that imports it.
"""

import argparse
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent


def command(out_dir):
    """The compiler command line (a list) that builds the module."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    target = Path(out_dir) / ("my_c_module"
                              + sysconfig.get_config_var("EXT_SUFFIX"))
    return cc + [
        "-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
        f"-I{sysconfig.get_paths()['include']}",
        str(HERE / "my_c_module.c"), "-o", str(target),
    ], target


def build(out_dir=HERE):
    """Compiles the module into out_dir and returns the file's path."""
    os.makedirs(out_dir, exist_ok=True)
    argv, target = command(out_dir)
    print(" ".join(shlex.quote(a) for a in argv), flush=True)
    subprocess.run(argv, check=True)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE),
                        help="directory for the module (default: here)")
    print(build(parser.parse_args().out))
    sys.exit(0)
