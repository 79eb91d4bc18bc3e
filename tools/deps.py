"""Prints the optional dependencies of the named groups in pyproject.toml,
one per line, so that `make setup` installs exactly what the project lists."""
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(__file__).parent.parent.joinpath(
    "pyproject.toml").read_text())["project"]
groups = project["optional-dependencies"]
for name in sys.argv[1:]:
    for requirement in groups[name]:
        print(requirement)
