"""python -m ungil.demo with tiny settings: it finishes, writes its files
and says which steps ran."""

import re

import ungil


def test_demo_writes_its_directory(child, tmp_path):
    out = tmp_path / "demo"
    result = child.run(f"""
        import sys
        from ungil.demo import main
        sys.exit(main(["--out", {str(out)!r}, "--pictures", "3",
                       "--pages", "6", "--latency", "0.01", "--repeat", "1",
                       "--sum-n", "100000", "--sum-n-native", "1000000",
                       "--tasks", "100"]))
    """, timeout=110)
    assert result.returncode == 0, result.stderr
    report = out / "report.html"
    assert report.is_file()
    page = report.read_text(encoding="utf-8")
    assert "<h2>The demo's steps</h2>" in page
    for key in ("io", "cpu", "mixed", "pool"):
        assert f'id="{key}"' in page
    timelines = sorted(p.name for p in (out / "timelines").glob("*.svg"))
    # Two timelines per experiment; one for mixed without the pipeline.
    drawn = [t for t in timelines if not t.startswith("pictures-")
             and not t.endswith(".trace.svg")]
    assert len(drawn) >= 7
    for name in timelines:
        assert (out / "timelines" / name).read_bytes().lstrip().startswith(
            b"<?xml")
    # ungil's runs also as their native traces (Perfetto JSON).
    traces = list((out / "timelines").glob("*.trace.json"))
    assert len(traces) >= 3  # downloads, sum_upto, the pool
    assert all(b"traceEvents" in t.read_bytes() for t in traces)
    assert not list(out.rglob("*.part"))
    assert f"open {report.resolve()}" in result.stdout
    assert re.search(r"2\. CPU-bound.*\n  pure Python, 1 thread", result.stdout)

    if hasattr(ungil, "download_pictures"):
        pictures = list((out / "pictures").iterdir())
        assert len(pictures) == 3
        assert (out / "timelines" / "pictures-trace.svg").is_file()
        assert (out / "timelines" / "pictures-trace.json").is_file()
    else:
        assert not (out / "pictures").exists()
        assert re.search(r"ungil\.download_pictures \+ FIND_EDGES\s+"
                         r"not available", result.stdout)
    if hasattr(ungil, "crawl"):
        graph = (out / "graph.html").read_text(encoding="utf-8")
        assert "/page/5.html" in graph
        fetched = re.search(r"(\d+) pages fetched", result.stdout)
        assert fetched and int(fetched.group(1)) >= 7  # home + 6 pages
    else:
        assert not (out / "graph.html").exists()
        assert re.search(r"ungil\.crawl of the site\s+not available",
                         result.stdout)
    assert "not available" not in result.stdout or \
        "not available in this build:" in result.stdout


def test_demo_refuses_bad_options(child, tmp_path):
    result = child.run(f"""
        from ungil.demo import main
        main(["--out", {str(tmp_path)!r}, "--pictures", "0"])
    """)
    assert result.returncode == 2
    assert "--pictures" in result.stderr
