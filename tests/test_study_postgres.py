"""Two machines' worth of workers on one PostgreSQL study: nothing lost, nothing duplicated.

The test starts a real PostgreSQL server on 127.0.0.1 in a temporary folder (as the
`postgres` user: the server refuses to run as root). If the server binaries are missing it
installs Debian's `postgresql` package (needs root and apt); it skips, saying why, only
where that is impossible. The Python driver is psycopg2 (psycopg2-binary on PyPI).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from test_study_workers import check_intact, start, stored
from study_helpers import write_study

pytestmark = pytest.mark.slow


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _ensure_postgres() -> tuple[str, str]:
    if _pg_bin("initdb") is None or _pg_bin("pg_ctl") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip("PostgreSQL server not installed and cannot install it (needs root and apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        proc = subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
            proc = subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True,
                                  text=True, timeout=600)
        if proc.returncode != 0 or _pg_bin("initdb") is None:
            pytest.skip(f"could not install Debian's postgresql: {proc.stderr.strip().splitlines()[-1:]}")
    return _pg_bin("initdb"), _pg_bin("pg_ctl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg2", reason="no PostgreSQL driver: pip install psycopg2-binary")
    initdb, pg_ctl = _ensure_postgres()
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root but there is no 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    else:
        as_user = []
    data = tempfile.mkdtemp(prefix="focus-dse-pg-")
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    try:
        subprocess.run(as_user + [initdb, "-D", f"{data}/db", "-A", "trust", "-U", "postgres"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run(as_user + [pg_ctl, "-D", f"{data}/db", "-l", f"{data}/log", "-w", "-t", "60", "-o",
                                  f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=50",
                                  "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {getattr(exc, 'stderr', b'')!r}")
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run(as_user + [pg_ctl, "-D", f"{data}/db", "-m", "fast", "-w", "stop"], capture_output=True,
                   timeout=60)
    shutil.rmtree(data, ignore_errors=True)


def test_two_processes_of_two_workers_on_postgresql(tmp_path, postgres_url):
    path = write_study(tmp_path, name="pg", trials=120)
    args = ["run", str(path), "--storage", postgres_url, "--workers", "2", "--results-dir", str(tmp_path),
            "--no-progress", "--no-reports"]
    first = start(args, tmp_path)
    time.sleep(0.5)
    second = start(args, tmp_path)  # as if on another machine: the same command joins the same study
    written = 0
    for proc in (first, second):
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        written += int(re.search(r"^(\d+) trials in", out, re.M).group(1))
    trials = stored(path, tmp_path, postgres_url)
    check_intact(trials, expected=written)  # every trial any worker wrote, exactly once
    assert len(trials) >= 120
    assert len({t.user_attrs["worker_trial"].rsplit(":", 1)[0] for t in trials}) >= 3


def test_postgres_status_and_unreachable(tmp_path, postgres_url, capsys):
    from study_helpers import study_main

    path = write_study(tmp_path, name="pg_status", trials=5)
    assert study_main(["run", str(path), "--storage", postgres_url, "--no-progress", "--no-reports"]) == 0
    capsys.readouterr()
    assert study_main(["status", str(path), "--storage", postgres_url]) == 0
    assert "5 of target 5" in capsys.readouterr().out
    dead = re.sub(r":\d+/", ":1/", postgres_url)
    assert study_main(["status", str(path), "--storage", dead]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot open storage" in err


def test_eight_workers_on_one_postgresql_study_complete_every_trial_exactly_once(tmp_path, postgres_url):
    from test_study_workers import run_eight_workers

    run_eight_workers(tmp_path, "pg_eight", postgres_url)


def test_four_commands_on_one_postgresql_study_split_the_target_exactly(tmp_path, postgres_url):
    from test_study_workers import run_separate_commands

    run_separate_commands(tmp_path, "pg_four", postgres_url)
