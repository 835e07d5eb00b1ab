"""The docs' benchmark tables are the rendering of the committed results files, so that they cannot drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from epinet_al.report import ReportError
from epinet_al.report.cli import main
from epinet_al.report.results import render, render_docs

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted((REPO / "docs").glob("*.md"))
TABLE = {
    "command": "python benchmarks/x.py",
    "date": "2026-12-07",
    "table": {"columns": ["way", "seconds", "met"], "rows": [["random", 67.9, "yes"], ["sorted", 1234, None]],
              "notes": ["Speedup 1.79x."]},
}  # fmt: skip


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_the_docs_tables_equal_the_rendering_of_their_results_files(doc):
    text = doc.read_text()
    assert render_docs(text, REPO) == text, f"run `make docs-tables` after changing benchmarks/results/ ({doc.name})"


def test_the_benchmarks_page_renders_its_micro_benchmarks_from_results_files():
    text = (REPO / "docs" / "benchmarks.md").read_text()
    for name in ("scoring_buckets", "finetune_modes", "index_samples_cost"):
        assert f"<!-- rendered from benchmarks/results/{name}.json -->" in text


def test_every_other_benchmarks_table_says_it_is_not_rendered():
    """A table outside the rendered blocks (and code blocks) is followed by one line naming where it came from."""
    lines = (REPO / "docs" / "benchmarks.md").read_text().split("\n")
    code = rendered = False
    unnamed = []
    for number, line in enumerate(lines):
        code ^= line.startswith("```")
        rendered = line.startswith("<!-- rendered from") or (rendered and not line.startswith("<!-- end rendered"))
        if code or rendered or not line.startswith("|") or lines[number - 1].startswith("|"):
            continue
        after = next(other for other in lines[number:] if not other.startswith("|") and other.strip())
        if not after.startswith("Not rendered: "):
            unnamed.append(f"{number + 1}: {line[:60]}")
    assert not unnamed, "tables with neither a rendered block nor a 'Not rendered: ...' line"


def test_a_benchmarks_table_renders_as_its_script_wrote_it(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(TABLE))
    assert render([Path("x.json")], tmp_path).split("\n") == [
        "| way | seconds | met |",
        "|---|--:|---|",
        "| random | 67.9 | yes |",
        "| sorted | 1,234 | — |",
        "",
        "Speedup 1.79x.",
        "",
        "Rendered by `epinet-al-report --render` from `x.json` (`python benchmarks/x.py`, 2026-12-07).",
    ]


def test_render_docs_rewrites_the_marked_blocks_in_place(tmp_path, monkeypatch, capsys):
    (tmp_path / "x.json").write_text(json.dumps(TABLE))
    doc = tmp_path / "doc.md"
    doc.write_text("Before.\n\n<!-- rendered from x.json -->\nan old table\n<!-- end rendered -->\n\nAfter.\n")
    monkeypatch.chdir(tmp_path)
    assert main(["--render-docs", "doc.md"]) == 0
    text = doc.read_text()
    assert text.startswith("Before.\n\n<!-- rendered from x.json -->\n\n| way | seconds | met |\n")
    assert text.endswith("(`python benchmarks/x.py`, 2026-12-07).\n\n<!-- end rendered -->\n\nAfter.\n")
    assert "an old table" not in text and render_docs(text) == text
    with pytest.raises(ReportError, match="one results file"):
        render([Path("x.json"), Path("x.json")])
    assert main(["--render-docs", "missing.md"]) == 2
    assert "epinet-al-report: error: cannot read missing.md" in capsys.readouterr().err


def test_a_view_renders_one_table_of_one_file(tmp_path):
    """FILE#VIEW: a comparison's summary or savings table as the report shows it, or one named benchmark table."""
    from epinet_al.report import load_sweep, summarize
    from epinet_al.report.markdown import savings_lines, summary_lines
    from epinet_al.report.results import write_results
    from tests.report.test_report import write_run

    labels = [10, 20, 40]
    for seed in (0, 1):  # no mean on a rounding boundary: the file keeps 10 digits
        write_run(tmp_path / "sweep", f"u{seed}", "mlp/uniform", seed, labels, [0.9, 0.7, 0.5 + seed / 70])
        write_run(tmp_path / "sweep", f"e{seed}", "epinet/variance", seed, labels, [0.8, 0.53, 0.47])
    summary = summarize(load_sweep(tmp_path / "sweep").runs)
    write_results(summary, tmp_path / "sweep", tmp_path / "x.json")
    task = summary.tasks[0]
    rendered = render([Path("x.json#summary")], tmp_path).split("\n\n")
    assert rendered[0] == summary_lines(task.table, task.metric, task.baseline)
    assert rendered[1].endswith("from `x.json#summary`.")
    assert render([Path("x.json#savings")], tmp_path).split("\n\n")[0] == savings_lines(task.savings, task.baseline)
    with pytest.raises(
        ReportError, match="unknown view #wins of x.json; valid views of a comparison: summary, savings"
    ):
        render([Path("x.json#wins")], tmp_path)
    with pytest.raises(ReportError, match="one results file"):
        render([Path("x.json#summary"), Path("x.json")], tmp_path)
    tables = dict(TABLE, table=[dict(TABLE["table"], name="a"), dict(TABLE["table"], name="b", notes=["B."])])
    (tmp_path / "y.json").write_text(json.dumps(tables))
    assert "B." in render([Path("y.json#b")], tmp_path) and "Speedup" not in render([Path("y.json#b")], tmp_path)
    with pytest.raises(ReportError, match="y.json has no table #c; its tables: a, b"):
        render([Path("y.json#c")], tmp_path)
