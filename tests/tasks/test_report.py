"""The end-of-run report: metric explanations (families, the strict check), summary.txt, the docs' tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from energyflow.errors import RunError
from energyflow.registry import get_registry
from energyflow.tasks import report

ROOT = Path(__file__).resolve().parents[2]


class Explained:
    metrics = {"nll": "grid NLL", "satisfied[{EXPR}]": "share satisfied", "{SET}_ratio": "a ratio"}

    def summary(self, metrics, out_dir):
        return [f"nll is {metrics['nll']:.1f}"]


@pytest.mark.parametrize(("key", "meaning"), [
    ("nll", "grid NLL"), ("satisfied[a & ~b]", "share satisfied"), ("satisfied[a][b]", "share satisfied"),
    ("fresh_ratio", "a ratio"), ("compile_s", report.RUN_METRICS["compile_s"]),
    ("nll_gap", None), ("satisfied", None), ("satisfied[]", None), ("xsatisfied[a]", None), ("_ratio", None),
])
def test_a_family_name_matches_exactly_its_members(key, meaning):
    assert report.explain(Explained(), key) == meaning


def test_the_strict_check_names_each_unexplained_metric(monkeypatch):
    metrics = {"nll": 1.0, "mystery": 2.0, "fresh_ratio": 0.5, "other": 0.0}
    assert report.undocumented(Explained(), metrics) == ["mystery", "other"]
    monkeypatch.setenv("ENERGYFLOW_CHECK_METRICS", "1")
    with pytest.raises(RunError, match="does not explain: mystery, other"):
        report.check_documented(Explained(), metrics)
    report.check_documented(Explained(), {"nll": 1.0})
    monkeypatch.delenv("ENERGYFLOW_CHECK_METRICS")
    report.check_documented(Explained(), metrics)  # outside the tests, only the docs' promise


def test_summary_lines_say_the_finding_then_the_pictures(tmp_path):
    (tmp_path / "samples.png").write_bytes(b"")
    (tmp_path / "chains.png").write_bytes(b"")
    lines = report.summary_lines(Explained(), {"nll": 2.5, "x": 1.0}, tmp_path)
    assert lines[0] == "nll is 2.5"
    assert lines[1] == f"Pictures: chains.png, samples.png (in {tmp_path})."
    assert lines[2].startswith("All 2 numbers are in metrics.json")
    assert report.percent(0.98612) == "98.6%"


def test_every_registered_task_documents_its_metrics_in_its_docs(plugin_manager):
    docs = "\n".join(p.read_text(encoding="utf-8") for p in
                     [*ROOT.glob("docs/*.md"), *ROOT.glob("plugins/*/README.md")])
    tasks = get_registry("task")
    for name in tasks.names():
        factory = tasks.resolve(name).factory
        assert factory.metrics, f"task {name!r} explains none of its metrics"
        assert report.metrics_table(factory) in docs, f"task {name!r}: its metrics table is not in the docs"


def test_a_run_ends_with_its_summary(tiny_recipe, tmp_path):
    from energyflow.recipe import load_recipe
    from energyflow.runtime import Run

    out = tmp_path / "run"
    Run(load_recipe(tiny_recipe), out_dir=out, quiet=True).execute()
    text = (out / report.SUMMARY).read_text()
    assert "nats per point against the true density's" in text and "-> samples.png" in text
    assert "Pictures: samples.png" in text
