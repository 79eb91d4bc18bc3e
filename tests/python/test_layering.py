"""The layering rules of DESIGN.md, checked on the source tree.

src/core (libungil) and the public headers in include/ never include
Python.h nor the binding's headers; the CLI is plain C too; every public
header in include/ungil/ starts with a comment that explains it; every
src/core/*.c belongs to a module with a public header.
"""

import re

import pytest

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.MULTILINE)


def c_files(root, *dirs):
    files = []
    for d in dirs:
        files += sorted((root / d).rglob("*.[ch]"))
    return files


def includes(path):
    return INCLUDE_RE.findall(path.read_text(encoding="utf-8"))


def test_tree_is_there(repo_root):
    assert (repo_root / "DESIGN.md").exists() or (repo_root / "meson.build").exists()
    assert c_files(repo_root, "src/core"), "no C sources in src/core"
    assert list((repo_root / "include" / "ungil").glob("*.h"))


@pytest.mark.parametrize("layer", ["src/core", "include", "src/cli"])
def test_layer_never_includes_python(repo_root, layer):
    offenders = []
    for path in c_files(repo_root, layer):
        text = path.read_text(encoding="utf-8")
        for name in includes(path):
            if name.endswith("Python.h") or name == "binding.h" or \
                    name.startswith("python/"):
                offenders.append(f"{path.relative_to(repo_root)}: {name}")
        # Nor any use of the CPython API by another route.
        if re.search(r"\bPy[A-Z]\w*\(|\bPyObject\b", text):
            offenders.append(f"{path.relative_to(repo_root)}: uses Py* API")
    assert not offenders, offenders


def test_core_includes_only_public_headers_and_system(repo_root):
    # The core includes its own public headers as "ungil/x.h" and system
    # headers; nothing from src/python or src/cli.
    for path in c_files(repo_root, "src/core", "include"):
        for name in includes(path):
            assert not name.startswith(("src/", "../")), (path, name)
            assert name not in ("cli.h", "binding.h"), (path, name)


def test_public_headers_start_with_a_comment(repo_root):
    headers = sorted((repo_root / "include" / "ungil").glob("*.h"))
    assert headers
    for header in headers:
        text = header.read_text(encoding="utf-8").lstrip()
        assert text.startswith(("/*", "//")), f"{header.name} has no leading comment"
        # The comment names the header and says what it is for.
        first = text.splitlines()[0]
        assert header.name in first or f"ungil/{header.name}" in first, first
        comment = text[:text.find("*/")] if text.startswith("/*") else text
        assert len(comment.split()) >= 5, f"{header.name}: comment too short"


def test_public_headers_have_include_guards(repo_root):
    for header in sorted((repo_root / "include" / "ungil").glob("*.h")):
        text = header.read_text(encoding="utf-8")
        guard = re.search(r"#ifndef\s+(\w+)\s*\n\s*#define\s+\1\b", text)
        pragma = "#pragma once" in text
        assert guard or pragma, f"{header.name} has no include guard"


def test_every_core_source_belongs_to_a_module(repo_root):
    headers = {h.stem for h in (repo_root / "include" / "ungil").glob("*.h")}
    for source in sorted((repo_root / "src" / "core").glob("*.c")):
        stem = source.stem
        # A module may be split into module.c + module_part.c.
        module = stem if stem in headers else stem.split("_", 1)[0]
        assert module in headers, (
            f"src/core/{source.name} has no public header "
            f"include/ungil/{module}.h")
        assert f'"ungil/{module}.h"' in source.read_text(encoding="utf-8"), (
            f"src/core/{source.name} does not include its module's header")


def test_binding_is_the_only_python_layer(repo_root):
    # And the binding does include Python.h (the check above is not vacuous).
    found = [p for p in c_files(repo_root, "src/python")
             if any(n == "Python.h" for n in includes(p))]
    assert found, "src/python never includes Python.h?"
