"""bench/report.py writes RESULTS.md from the benchmarks' JSON: fed fake JSON here."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # last: bench/chat, bench/tickets must not shadow the apps

import report  # noqa: E402
import run_all  # noqa: E402
from report import Row, T  # noqa: E402

RUN = {"load_start": [0.5, 0.4, 0.3], "load_end": [1.25, 0.6, 0.4], "started": "2026-12-05"}


def cells(row: Row, data: dict | None) -> report.Line:
    return report.line(row, None if data is None else {"_run": RUN, **data})


def test_a_ratio_at_or_above_its_target_is_met():
    row = Row("x.py", "x", "ours", "tickets/s", peer="peer", peer_label="p", target=T(">=", 2.0))
    ln = cells(row, {"ours": [40.0, 42.0, 44.0], "peer": [20.0, 20.0, 21.0]})
    assert ln.measured == "42 [40–44] tickets/s"  # whole numbers stay whole
    assert ln.peer == "p: 20 [20–21] tickets/s"
    assert ln.ratio == "2.10×"  # median ÷ median when the benchmark gives no ratio
    assert ln.met == "yes"
    assert ln.rounds == "3"
    assert ln.load == "0.50 → 1.25"


def test_a_ratio_below_a_lower_bound_is_not_met():
    row = Row("x.py", "x", "ours", "tickets/s", peer="peer", ratio="r", target=T(">=", 2.0))
    ln = cells(row, {"ours": 37.0, "peer": 58.0, "r": [0.63, 0.64, 0.66]})
    assert ln.ratio == "0.64 [0.63–0.66]×"  # the benchmark's own per-round ratios
    assert ln.met == "**no**"


def test_direction_an_upper_bound_is_met_below_and_missed_above():
    row = Row("x.py", "x", "p99", "ms", peer="tut", ratio="r", target=T("<=", 1.5))
    assert cells(row, {"p99": 45.7, "tut": 213.7, "r": 0.21}).met == "yes"
    assert cells(row, {"p99": 300.0, "tut": 150.0, "r": 2.0}).met == "**no**"


def test_a_fixed_ceiling_and_a_target_on_the_figure():
    ceiling = Row("x.py", "x", "s", "s", peer=30.0, peer_label="ceiling", target=T("<=", 1.0))
    ln = cells(ceiling, {"s": 8.5})
    assert ln.peer == "ceiling: 30 s"
    assert ln.ratio == "0.28×"
    assert ln.met == "yes"
    on_figure = Row("x.py", "x", "t", "s", target=T("<=", 0.3, "figure"))
    assert cells(on_figure, {"t": 0.0141}).measured == "14.1 ms"
    assert cells(on_figure, {"t": 0.0141}).met == "yes"
    assert cells(on_figure, {"t": 1.48}).met == "**no**"
    zero = Row("x.py", "x", "lost", target=T("==", 0, "figure"))
    assert cells(zero, {"lost": 0}).met == "yes"
    assert cells(zero, {"lost": 3}).met == "**no**"


def test_a_total_adds_every_round_up():
    row = Row("x.py", "x", "rounds.*.lost", total=True, target=T("==", 0, "figure"))
    ln = cells(row, {"rounds": [{"lost": 0}, {"lost": 2}, {"lost": 0}]})
    assert (ln.measured, ln.met) == ("2", "**no**")  # the median, 0, would hide them
    assert cells(row, {"rounds": [{"lost": 0}, {"lost": 0}, {"lost": 0}]}).met == "yes"


def test_a_range_across_the_target_is_said():
    row = Row("x.py", "x", "r", "", target=T(">=", 6.0, "figure"))
    assert cells(row, {"r": [5.8, 6.2, 6.4]}).met == "yes (median; not every round)"
    assert cells(row, {"r": [5.5, 5.8, 6.1]}).met == "**no** (median; some rounds)"


def test_a_missing_key_says_not_run_and_a_missing_benchmark_not_run_in_this_report():
    row = Row("x.py", "x {gone:,}", "a.b", "s", peer="c", peer_label="c", target=T("<=", 2.0))
    ln = cells(row, {"a": {}})
    assert (ln.measured, ln.met) == ("not run", "not run")
    assert ln.label == "x …"
    peerless = cells(row, {"a": {"b": 1.0}})
    assert peerless.peer == "c: not run"
    assert peerless.ratio == "not run"
    assert peerless.met == "not run"
    absent = report.line(row, None)
    assert absent.measured == absent.met == report.NOT_RUN


def test_a_failed_run_is_reported_as_failed():
    row = Row("x.py", "x", "a", "s")
    ln = report.line(row, {"_run": {**RUN, "exit": 1}})
    assert ln.met == "failed in this run (exit 1)"


def test_paths_take_rounds_filters_and_top_level_placeholders():
    data = {
        "workers": 8,
        "ours": {"8": {"per_second": {"median": 141.9, "min": 141.8, "max": 142.5}}},
        "rounds": [{"b": {"per_second": 190.0}}, {"b": {"per_second": 200.0}}],
        "runs": [{"kind": "platform", "v": 1}, {"kind": "helpdesk", "v": 2}],
    }
    assert report.stat(data, "ours.{workers}.per_second") == report.Stat(141.9, 141.8, 142.5, 0)
    assert report.lookup(data, "rounds.*.b.per_second") == [190.0, 200.0]
    assert report.lookup(data, "runs.kind=helpdesk.v") == [2]
    assert report.lookup(data, "runs.kind=nobody.v") is None
    assert report.lookup(data, "ours.{absent}.x") is None
    per_shape = {"summary": {"1p x1": {"errors": [0, 1]}, "2p x1": {"errors": [0, 0]}, "x": {}}}
    assert report.lookup(per_shape, "summary.*.errors") == [0, 1, 0, 0]  # lists flattened


def test_every_row_names_a_benchmark_run_all_runs():
    assert {r.bench for r in report.ROWS} <= set(run_all.BENCHMARKS)


def events(ratio: float) -> dict:
    side = {"per_second": {"median": 100.0, "min": 99.0, "max": 101.0}}
    return {
        "database": {"backend": "postgresql", "version": "server 15"},
        "workers": 8,
        "rounds": 3,
        "ours": {"1": side, "8": side, "ratio": {"median": ratio, "min": ratio, "max": ratio}},
        "_run": {**RUN, "name": "events_overlap.py", "machine": {"cpus": 2, "ram_gib": 23.5}},
    }


def test_report_only_rebuilds_results_md_from_the_saved_json(tmp_path, capsys):
    saved = tmp_path / "results"
    saved.mkdir()
    report.result_path("events_overlap.py", saved).write_text(json.dumps(events(7.5)))
    out = tmp_path / "RESULTS.md"
    assert run_all.main(["--report-only", "--results-dir", str(saved), "--report", str(out)]) == 0
    text = out.read_text()
    assert "Machine: 2 CPUs, 23.5 GiB RAM" in text
    assert "| `events_overlap.py` | events, publish + 50 ms before commit: 8 places vs 1 |" in text
    assert "7.50× | ratio ≥ 6× | yes | 3 | 0.50 → 1.25 |" in text
    assert (
        f"| `issuance.py` | bulk issuance of a province, … school accounts | {report.NOT_RUN}"
        in (text)
    )
    assert "- `tickets/pages.py`: not run in this report." in text
    assert "== Summary ==" in capsys.readouterr().out  # the printed table still works


@pytest.mark.parametrize("name", ["tickets/pages.py", "issuance.py"])
def test_result_files_map_back_to_their_names(tmp_path, name):
    path = report.result_path(name, tmp_path)
    path.write_text("{}")
    assert list(report.load_results(tmp_path)) == [name]


def test_run_one_keeps_the_json_with_its_run_and_marks_a_failure(tmp_path, monkeypatch):
    (tmp_path / "good.py").write_text(
        "import json, sys\nopen(sys.argv[sys.argv.index('--json') + 1], 'w')"
        ".write(json.dumps({'x': 1}))\n"
    )
    (tmp_path / "bad.py").write_text("raise SystemExit(3)\n")
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    monkeypatch.setitem(run_all.OPTIONS, "good.py", ["--rounds", "3"])
    saved = tmp_path / "results"
    data, code = run_all.run_one("good.py", {"cpus": 2}, saved)
    assert code == 0
    assert data["x"] == 1
    run = json.loads(report.result_path("good.py", saved).read_text())["_run"]
    assert run["command"] == "python bench/good.py --rounds 3 --json …"
    assert len(run["load_start"]) == len(run["load_end"]) == 3
    assert run["machine"] == {"cpus": 2} and "exit" not in run
    data, code = run_all.run_one("bad.py", {}, saved)
    assert (data, code) == (None, 3)
    bad = report.load_results(saved)["bad.py"]
    assert report.line(Row("bad.py", "b", "x"), bad).met == "failed in this run (exit 3)"


def test_a_run_made_by_hand_is_imported_with_what_it_was(tmp_path):
    made = tmp_path / "made.json"
    made.write_text(json.dumps({k: v for k, v in events(7.5).items() if k != "_run"}))
    saved, out = tmp_path / "results", tmp_path / "RESULTS.md"
    saved.mkdir()
    argv = ["--import", "events_overlap.py", str(made), "python bench/events_overlap.py"]
    argv += ["2026-12-05 02:00 UTC", "1.5", "--results-dir", str(saved), "--report", str(out)]
    assert run_all.main(argv) == 0
    run = json.loads(report.result_path("events_overlap.py", saved).read_text())["_run"]
    assert run["command"] == "python bench/events_overlap.py (run by hand, imported)"
    assert run["started"] == "2026-12-05 02:00 UTC" and run["load_start"] == [1.5]
    assert "7.50× | ratio ≥ 6× | yes | 3 | 1.50 → ? |" in out.read_text()
