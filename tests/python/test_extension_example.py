"""examples/extension: the course's my_c_module, built with its own recipe
(build.py: one compiler command from sysconfig) in a temporary directory,
then imported and called in a child interpreter."""

import os
import subprocess
import sys
import textwrap


def test_build_import_and_call(repo_root, tmp_path, child):
    # The compiler runs without the sanitizer runtime that an ASan run of
    # the suite preloads.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    build = subprocess.run(
        [sys.executable, str(repo_root / "examples/extension/build.py"),
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=100, env=env)
    assert build.returncode == 0, build.stderr
    built = list(tmp_path.glob("my_c_module*.so"))
    assert len(built) == 1, build.stdout
    assert "-shared" in build.stdout  # it shows the command it ran

    result = child.run(textwrap.dedent(f"""
        import sys, threading
        sys.path.insert(0, {str(tmp_path)!r})
        import my_c_module as m
        assert m.__file__ == {str(built[0])!r}, m.__file__
        print(m.method('unicorns', 1))
        print(m.method('ponies', 3))
        for bad in [(1, 'x'), ('unicorns',), ('unicorns', 1.5)]:
            try:
                m.method(*bad)
            except TypeError as exc:
                print('TypeError', exc)
        try:
            m.method('unicorns', -1)
        except ValueError as exc:
            print('ValueError', exc)
        print(m.sum_upto(10**6))
        # Two Python threads in the GIL-free loop at once, both exact.
        out = []
        threads = [threading.Thread(target=lambda: out.append(m.sum_upto(10**7)))
                   for _ in range(2)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(out)
    """))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1 unicorns"
    assert lines[1] == "3 ponies"
    assert lines[2] == "TypeError method() argument 1 must be str, not int"
    assert lines[3].startswith("TypeError")  # a missing argument
    assert lines[4].startswith("TypeError")  # a float for the int
    assert lines[5] == "ValueError n must be >= 0"
    assert lines[6] == str(10**6 * (10**6 + 1) // 2)
    assert lines[7] == str([10**7 * (10**7 + 1) // 2] * 2)
