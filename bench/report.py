"""Renders bench/results/*.json as Markdown into README.md.

The section goes between the lines `<!-- bench:start -->` and
`<!-- bench:end -->` of README.md at the repository root; nothing outside
them changes.  README.md is created with just the markers if missing (and
the markers are appended if README.md lacks them).  Every figure comes from
the results files.

    python3 bench/report.py [--stdout]
"""

import json
import sys
from pathlib import Path

from harness import fmt_rate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ORDER = ["pool_map", "native_tasks", "sum_upto", "download_latency",
         "download_throughput", "download_hosts", "crawl"]


def fmt_s(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_ns(ns):
    return f"{ns:.3g}" if ns < 1000 else f"{ns:,.0f}"


def fmt_ratio(x):
    return f"{x:.3g}x" if x is not None else "-"


def machine_line(m, rounds):
    cores = m.get("nproc")
    commit = (m.get("git_commit") or "")[:10] or "none yet"
    load = m.get("loadavg_at_start")
    parts = [f"**{cores} cores** ({m.get('cpu')})", f"Python {m.get('python')}",
             m.get("date", "")[:10], f"commit {commit}",
             f"median of {rounds} interleaved runs"]
    if load:
        parts.append(f"load average at start {load[0]}")
    psi = m.get("cpu_pressure_at_end")
    if psi:
        parts.append(f"CPU pressure at end {psi['avg60']:.0f}% (PSI avg60: "
                     "share of time some task waited for a core; other "
                     "jobs share this VM)")
    return "Machine: " + ", ".join(parts) + "."


def md(text):
    """Plain text for Markdown: "<name>" would otherwise be taken for an
    HTML tag and vanish."""
    return str(text).replace("<", "&lt;").replace(">", "&gt;")


def render_table(table):
    """An optional summary table of a results file: {"title", "columns",
    "rows"}, cells already formatted by the benchmark."""
    if not table:
        return []
    cols = table["columns"]
    out = [f"**{table['title']}**", "", "| " + " | ".join(cols) + " |",
           "|" + "---|" * 2 + "---:|" * (len(cols) - 2)]
    out += ["| " + " | ".join(str(c) for c in row) + " |"
            for row in table["rows"]]
    return out + [""]


def render_one(data):
    m = data["machine"]
    cores = m.get("nproc")
    rounds = max(g["rounds"] for g in data["groups"])
    out = [f"### {data['title']}", "", machine_line(m, rounds), ""]
    out += render_table(data.get("table"))
    for g in data["groups"]:
        unit = g["contenders"][0]["unit"]
        one = unit.rstrip("s")
        # Optional columns: a time scaled to `scale_to` items (for peers
        # run on fewer items), and client CPU (rows with cpu_median).
        scale = g.get("scale_to")
        cpu = any("cpu_median" in r for r in g["contenders"])
        head = (f"| contender | {unit} | median | min | max | {unit}/s "
                f"(median) | ns per {one} |")
        rule = "|---|---:|---:|---:|---:|---:|---:|"
        if scale:
            head += f" time for {scale:,} {unit} (scaled) |"
            rule += "---:|"
        if cpu:
            head += f" client CPU (median) | CPU µs per {one} |"
            rule += "---:|---:|"
        out += [f"**{g['title']}** ({cores} cores; ratio = {unit}/s vs "
                f"{g['baseline']})", "", head + " ratio |", rule + "---:|"]
        for r in g["contenders"]:
            name = md(r["name"])
            if r["name"] == g["baseline"]:
                name = f"**{name}**"
            line = (f"| {name} | {r['items']:,} | {fmt_s(r['median'])} | "
                    f"{fmt_s(r['min'])} | {fmt_s(r['max'])} | "
                    f"{fmt_rate(r['per_second'])} | {fmt_ns(r['ns_per_item'])} |")
            if scale:
                line += f" {fmt_s(r['median'] / r['items'] * scale)} |"
            if cpu:
                line += (f" {fmt_s(r['cpu_median'])} | "
                         f"{r['cpu_us_per_item']:,.1f} |" if "cpu_median" in r
                         else " - | - |")
            out.append(line + f" {fmt_ratio(r['ratio'])} |")
        out.append("")
    for t in data.get("targets", []):
        mark = "met" if t["met"] else "**not met**"
        value = (f"{t['value']:.3g}x" if t["required"] < 1000
                 else fmt_rate(t["value"]))
        required = (f"{t['required']:g}x" if t["required"] < 1000
                    else fmt_rate(t["required"]))
        if t.get("unit") == "s":  # a time, not a ratio or a rate
            value, required = fmt_s(t["value"]), fmt_s(t["required"])
        out.append(f"- Target: {t['what']}: {value} (required "
                   f"{t.get('op', '>=')} {required}, {cores} cores): {mark}")
    for note in data.get("notes", []):
        out.append(f"- {md(note)}")
    out += ["", f"![{data['title']}](bench/results/{data['name']}.svg)", ""]
    return out


def render():
    files = sorted(HERE.glob("results/*.json"),
                   key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER
                                  else len(ORDER), p.stem))
    out = ["## Benchmarks", "",
           "Generated by `python3 bench/run.py` from `bench/results/*.json`; "
           "do not edit by hand.", ""]
    for path in files:
        out += render_one(json.loads(path.read_text()))
    return "\n".join(out).rstrip() + "\n"


def splice(text, section):
    block = f"{START}\n{section}{END}"
    if START in text and END in text and text.index(START) < text.index(END):
        head = text[:text.index(START)]
        tail = text[text.index(END) + len(END):]
        return head + block + tail
    sep = "" if not text or text.endswith("\n\n") else (
        "\n" if text.endswith("\n") else "\n\n")
    return text + sep + block + "\n"


def main(argv):
    section = render()
    if "--stdout" in argv:
        sys.stdout.write(section)
        return 0
    text = README.read_text() if README.exists() else f"{START}\n{END}\n"
    README.write_text(splice(text, section))
    print(f"wrote the benchmark section of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
