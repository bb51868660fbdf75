"""The journal file: a last line cut off by a kill, other corruption, its lock file, masked URLs."""

from __future__ import annotations

import pytest

from dse.errors import UserError
from dse.search import load_study, run_study
from dse.search.study_store import open_study
from dse.search.storage import LOCK_SUFFIX, mask, parse_storage
from study_helpers import study_main, write_study


def _run(path, log, n):
    spec = load_study(str(path))
    return run_study(spec, parse_storage(str(log)), n, progress=False)


def test_cut_off_last_line_is_ignored_then_cut_before_the_next_append(tmp_path):
    path = write_study(tmp_path, name="cut", trials=10)
    log = tmp_path / "cut.log"
    _run(path, log, 5)
    data = log.read_bytes()
    log.write_bytes(data + b'{"op_code": 5, "worker_id": "x", "trial_id": 3, "state"')  # killed mid-write
    spec = load_study(str(path))
    assert len(open_study(spec, parse_storage(str(log)), create=False).get_trials()) == 5  # still readable
    summary = _run(path, log, 8)
    assert summary.after == 8
    assert log.read_bytes().endswith(b"\n")
    fresh = open_study(spec, parse_storage(str(log)), create=False).get_trials()  # a fresh reader agrees
    assert [t.number for t in fresh] == list(range(8))
    assert not (tmp_path / "cut.log.lock").exists() and (tmp_path / f"cut.log{LOCK_SUFFIX}").exists()


def test_corrupt_journal_is_one_line_exit_2(tmp_path, capsys):
    path = write_study(tmp_path, name="bad", trials=4)
    log = tmp_path / "bad.log"
    _run(path, log, 2)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2]) + b"garbage\n" + b"".join(lines[2:]))
    code = study_main(["status", str(path), "--storage", str(log)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "corrupt" in err


@pytest.mark.parametrize("url", ["postgresql://bob:se/cr:et@db.example:5432/optuna",
                                 "postgresql://bob:pass@host/db", "mysql+pymysql://u:a@b/c@h/db"])
def test_mask_hides_passwords(url):
    masked = mask(url)
    assert "***" in masked and "se/cr" not in masked and "pass@" not in masked and "a@b" not in masked


def test_bad_storage_text_is_user_error():
    with pytest.raises(UserError):
        parse_storage("not-a-url")


def test_default_storage_is_the_journal_and_an_existing_sqlite_study_keeps_its_file(tmp_path):
    from dse.search.storage import resolve_storage

    path = write_study(tmp_path, name="dflt", trials=4)
    assert study_main(["run", str(path), "--results-dir", str(tmp_path), "--no-progress", "--no-reports"]) == 0
    assert (tmp_path / "dflt" / "journal.log").is_file() and not (tmp_path / "dflt" / "study.db").exists()
    # a study made when SQLite was the default: resume and status keep using its study.db
    old = tmp_path / "old"
    path = write_study(tmp_path, name="legacy", trials=4)
    spec = load_study(str(path))
    sqlite = parse_storage(f"sqlite:///{old / 'legacy' / 'study.db'}")
    (old / "legacy").mkdir(parents=True)
    run_study(spec, sqlite, 3, progress=False)
    ref = resolve_storage("legacy", old, None, None)
    assert ref.kind == "sqlite" and ref.default
    assert study_main(["resume", str(path), "--results-dir", str(old), "--trials", "4", "--no-progress",
                       "--no-reports"]) == 0
    assert len(open_study(spec, sqlite, create=False).get_trials()) == 4
    assert not (old / "legacy" / "journal.log").exists()


def _journal_study(log):
    import optuna

    from dse.search.storage import FlockJournalBackend

    storage = optuna.storages.JournalStorage(FlockJournalBackend(str(log)))
    return optuna.create_study(study_name="s", storage=storage, load_if_exists=True)


def test_a_batch_sees_its_own_writes_and_lands_whole_before_any_other_writer(tmp_path):
    """Inside ClaimBook.batch the storage learns the ids and numbers of the trials it creates (they are
    numbered as they will be in the file), and no other writer gets in: a writer that tries waits for
    the block's one append, and lands after it."""
    import threading
    import time

    from dse.search.claims import ClaimBook

    log = tmp_path / "b.log"
    mine, other = _journal_study(log), _journal_study(log)
    other.set_user_attr("before", 1)
    book = ClaimBook(mine, "me")
    done = []
    with book.batch():
        claims = [book.claim({}, {}, {}, {"uid": i}, unique=False) for i in range(3)]
        assert [c.number for c in claims] == [0, 1, 2]
        writer = threading.Thread(target=lambda: done.append(other.set_user_attr("after", 2)))
        writer.start()
        # a thread of this process writing through the same storage (a worker's heartbeat) joins the block
        beat = threading.Thread(target=lambda: mine.set_user_attr("beat", 3))
        beat.start()
        beat.join(5)
        assert not beat.is_alive(), "a write of the block's own storage waited for the block"
        time.sleep(0.3)
        assert writer.is_alive() and not done, "another writer got in during the block"
        lines_inside = log.read_bytes().count(b"\n")
    writer.join(10)
    assert done
    lines = log.read_bytes().splitlines()
    assert len(lines) == lines_inside + 4 + 1  # the block's 3 creates and the beat in one append, then the other's
    assert all(b'"op_code":4' in line for line in lines[lines_inside:lines_inside + 3])
    fresh = _journal_study(log)
    assert [t.user_attrs["uid"] for t in fresh.get_trials()] == [0, 1, 2]
    assert fresh.user_attrs == {"before": 1, "beat": 3, "after": 2}


def test_a_claim_withdrawn_while_evaluated_is_lost_and_the_rest_of_the_batch_stored(tmp_path):
    """A worker whose heartbeat looked stale: another withdraws its claim; finishing it (in the batch of
    a generation's outcomes) says so, stores nothing of it, and stores the other outcomes."""
    from optuna.trial import TrialState, create_trial

    from dse.search.claims import ClaimBook

    log = tmp_path / "w.log"
    mine, other = _journal_study(log), _journal_study(log)
    book = ClaimBook(mine, "me")
    with book.batch():
        claims = [book.claim({}, {}, {}, {"uid": i}, unique=False) for i in range(2)]
    ClaimBook(other, "other").withdraw(claims[0], "its worker me is gone")
    with book.batch():
        kept = [book.finish(c, create_trial(state=TrialState.COMPLETE, values=[1.0], user_attrs={"metrics": i}))
                for i, c in enumerate(claims)]
    assert kept == [False, True]
    trials = _journal_study(log).get_trials()
    assert trials[0].state == TrialState.PRUNED and "metrics" not in trials[0].user_attrs
    assert trials[0].user_attrs["withdrawn"] == "its worker me is gone"
    assert trials[1].state == TrialState.COMPLETE and trials[1].user_attrs["metrics"] == 1


def test_a_run_parses_hardly_a_journal_line_back(tmp_path, monkeypatch):
    """`study run` hands its study object to run_study, and its in-process worker writes and reads through
    it: what the worker appends it has already seen (dse/search/storage.py batch), so hardly a line is
    parsed back, for the closing count and the reports either. A second object (the run's or the
    worker's own) replays the whole journal (~0.2 s after the quickstart's 600 trials)."""
    from dse.search.storage import FlockJournalBackend

    parsed = []
    read_file = FlockJournalBackend._read_file

    def counting(self, start):
        logs, end = read_file(self, start)
        parsed.append(len(logs))
        return logs, end

    monkeypatch.setattr(FlockJournalBackend, "_read_file", counting)
    path = write_study(tmp_path, name="shared", trials=12)
    assert study_main(["run", str(path), "--storage", str(tmp_path / "shared.log"), "--results-dir",
                       str(tmp_path / "results"), "--out", str(tmp_path / "configs"), "--no-progress"]) == 0
    lines = len((tmp_path / "shared.log").read_bytes().splitlines())
    assert sum(parsed) < lines / 2, (sum(parsed), lines)
