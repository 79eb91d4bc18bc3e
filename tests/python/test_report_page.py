"""The lab's report.html in a real browser (headless Chromium): every chart
and timeline renders with a real size, and the page is not blank.

A copy of the report gets a small script that, once the page has loaded,
writes each image's rendered size into the DOM; `chromium --dump-dom`
prints the DOM after that.  A screenshot is then checked for the charts'
colours.
"""

import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                  "--hide-scrollbars", "--no-first-run",
                  "--disable-dev-shm-usage"]

PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  for (const img of images) {
    const box = img.getBoundingClientRect();
    img.setAttribute("data-rendered",
      `${img.naturalWidth}x${img.naturalHeight}:${Math.round(box.width)}x` +
      `${Math.round(box.height)}:${img.complete}`);
  }
  document.body.setAttribute("data-images", String(images.length));
});
</script>"""


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run `make setup` "
                    "(tools/setup-system.sh installs Debian's chromium)",
                    pytrace=False)
    return path


def run_chromium(tmp_path, *args):
    profile = tmp_path / "profile"
    # The browser is not ours to instrument: no sanitizer runtime preloaded
    # into it when the suite runs under ASan.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=90, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory, child):
    out = tmp_path_factory.mktemp("report")
    result = child.run(f"""
        import sys
        from ungil.lab.__main__ import main
        sys.exit(main(["--repeat", "1", "-n", "3", "--mixed-pictures", "2",
                       "--latency", "0.01", "--processes", "2",
                       "--sum-n", "100000", "--sum-n-native", "1000000",
                       "--tasks", "100", "--native-tasks", "2",
                       "--native-n", "1000", "--report", {str(out)!r}]))
    """, timeout=110)
    assert result.returncode == 0, result.stderr
    return out / "report.html"


def test_charts_and_timelines_render(report, tmp_path):
    page = report.read_text(encoding="utf-8")
    expected = page.count("<img ")
    assert expected >= 4 + 7  # 4 charts; 2 timelines per experiment (or 1)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    dom = run_chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                       probe.as_uri())
    assert f'data-images="{expected}"' in dom
    sizes = re.findall(r'data-rendered="(\d+)x(\d+):(\d+)x(\d+):(\w+)"', dom)
    assert len(sizes) == expected
    for natural_w, natural_h, box_w, box_h, complete in sizes:
        assert complete == "true"
        assert int(natural_w) > 300 and int(natural_h) > 100
        assert int(box_w) > 300 and int(box_h) > 100
    # Every experiment's section and table made it into the DOM.
    for key in ("io", "cpu", "mixed", "pool"):
        assert f'id="{key}"' in dom
    assert dom.count("<table") >= 5


def test_screenshot_shows_charts(report, tmp_path):
    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2400",
                 "--virtual-time-budget=10000", report.as_uri())
    with Image.open(shot) as image:
        assert image.size == (1200, 2400)
        rgb = image.convert("RGB")
        colours = rgb.getcolors(1 << 22)
    total = sum(count for count, _ in colours)
    background = sum(count for count, c in colours if min(c) > 245)
    assert background < 0.95 * total  # not a blank page

    def near(target, tolerance=12):
        return sum(count for count, c in colours
                   if all(abs(a - b) <= tolerance for a, b in zip(c, target)))

    # The bars of Python contenders (blue) and of ungil (green).
    assert near((0x2b, 0x6c, 0xb0)) > 500
    assert near((0x38, 0xa1, 0x69)) > 500
