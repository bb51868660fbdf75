"""Exports are tied to the study and storage they came from (issue 13, item 1): a second study of
the same name (another results directory, storage, or the study re-created) never replaces them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study_helpers import study_main, write_study


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stored_trials(path: Path, results_dir: Path) -> dict:
    from dse.search import load_study, resolve_storage
    from dse.search.study_store import open_study

    spec = load_study(str(path))
    study = open_study(spec, resolve_storage(spec.name, results_dir, None, None), create=False)
    return {t.number: t for t in study.get_trials(deepcopy=False)}


def check_consistent(export: Path, path: Path, results_dir: Path) -> None:
    """Every exported design is a trial of the study in `results_dir`, and re-simulates to its stored metrics."""
    from dse.design import DesignPoint
    from dse.evaluate import evaluate
    from dse.workloads import resolve_workload

    trials = stored_trials(path, results_dir)
    source = json.loads((export / "source.json").read_text())
    assert Path(source["storage_id"]) == (results_dir / "qs" / "journal.log").resolve()
    assert source["finished_trials"] == len(trials)
    ranks = sorted(p for p in export.iterdir() if p.is_dir())
    assert ranks and source["designs"] == len(ranks)
    for folder in ranks:
        record = json.loads((folder / "design.json").read_text())
        trial = trials[record["trial"]]
        assert record["design"] == trial.user_attrs["design"]
        assert [record["objectives"][o] for o in ("accuracy", "energy", "latency")] == trial.values
        stored = trial.user_attrs["metrics"]
        ev = evaluate(DesignPoint.from_dict(record["design"]), resolve_workload(record["workload"])).to_dict()
        assert (ev["energy_j"], ev["execution_time_s"], ev["area_mm2"]) == \
            (stored["energy_j"], stored["latency_s"], stored["area_mm2"])


def test_second_study_never_replaces_the_first_ones_exports(tmp_path, monkeypatch, capsys):
    """The issue's commands: `study run S --results-dir A`, then `... --workers 2 --results-dir B`,
    both exporting to the default accel_configs/."""
    monkeypatch.chdir(tmp_path)
    path = write_study(tmp_path, name="qs", trials=20)
    common = ["--no-progress", "--export-best", "3"]
    assert study_main(["run", str(path), "--results-dir", "A", *common]) == 0
    first = snapshot(tmp_path / "accel_configs" / "qs")
    assert "1/design.json" in first
    capsys.readouterr()

    assert study_main(["run", str(path), "--workers", "2", "--results-dir", "B", *common]) == 0
    captured = capsys.readouterr()
    assert snapshot(tmp_path / "accel_configs" / "qs") == first, "the first study's exports are byte-for-byte intact"
    assert "source.json" in first
    check_consistent(tmp_path / "accel_configs" / "qs", path, Path("A"))

    # the second study's designs went to their own folder, which says where they came from
    others = [p for p in (tmp_path / "accel_configs").iterdir() if p.name != "qs"]
    assert len(others) == 1 and others[0].name.startswith("qs-")
    second = json.loads((others[0] / "source.json").read_text())
    assert Path(second["storage_id"]) == (tmp_path / "B" / "qs" / "journal.log").resolve()
    assert "accel_configs/qs/ holds the exports of study 'qs' in A/qs/journal.log" in captured.err
    assert captured.err.count("\n") == 1
    assert f"exported 3 best designs to {Path('accel_configs') / others[0].name}/" in captured.out

    # exporting the first study again replaces its own export (same source), not the second's
    kept = snapshot(others[0])
    assert study_main(["export", str(path), "--results-dir", "A", "--best", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "accel_configs" / "qs").iterdir() if p.is_dir()) == ["1", "2"]
    assert snapshot(others[0]) == kept
    check_consistent(tmp_path / "accel_configs" / "qs", path, Path("A"))


def test_old_export_without_source_is_left_alone(tmp_path, capsys):
    path = write_study(tmp_path, name="qs", trials=10)
    old = tmp_path / "out" / "qs"
    (old / "1").mkdir(parents=True)
    (old / "1" / "design.json").write_text('{"made": "before source.json existed"}')
    (old / "index.csv").write_text("rank\n1\n")
    before = snapshot(old)
    assert study_main(["run", str(path), "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                       "--export-best", "1", "--no-progress"]) == 0
    assert snapshot(old) == before
    err = capsys.readouterr().err
    assert "without a source.json" in err
    (own,) = [p for p in (tmp_path / "out").iterdir() if p.name != "qs"]
    assert (own / "1" / "design.json").is_file()


def test_recreated_study_gets_its_own_folder(tmp_path, capsys):
    """Same name, same storage path, but the study was deleted and made again: another study."""
    path = write_study(tmp_path, name="qs", trials=8)
    args = ["run", str(path), "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
            "--export-best", "1", "--no-progress"]
    assert study_main(args) == 0
    before = snapshot(tmp_path / "out" / "qs")
    for f in (tmp_path / "r" / "qs").glob("journal.log*"):
        f.unlink()
    assert study_main(args) == 0
    assert snapshot(tmp_path / "out" / "qs") == before
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_own_folder_taken_by_foreign_files_is_refused(tmp_path, capsys):
    from dse.report.export import ExportSource, export_folder
    from dse.errors import UserError

    source = ExportSource("qs", "sqlite:///x.db", "/x.db", "2026-01-01T00:00:00", "u1")
    (tmp_path / "qs").mkdir()
    (tmp_path / "qs" / "notes.txt").write_text("mine")
    (tmp_path / f"qs-{source.key}").mkdir()
    (tmp_path / f"qs-{source.key}" / "notes.txt").write_text("mine too")
    with pytest.raises(UserError, match="holds files that did not come from study 'qs'"):
        export_folder(tmp_path, source)
