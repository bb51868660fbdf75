"""A study's storage opens in optuna-dashboard and in Optuna's own journal reader."""

from __future__ import annotations

import io
import json

import optuna
import pytest

from dse.search import load_study, run_study
from dse.search.storage import StorageRef
from study_helpers import write_study


def wsgi_get(app, path: str) -> tuple[str, bytes]:
    status = {}

    def start_response(s, headers, exc_info=None):
        status["s"] = s

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(), "wsgi.errors": io.StringIO(),
               "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1"}
    body = b"".join(app(environ, start_response))
    return status["s"], body


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_storage_opens_in_optuna_dashboard(tmp_path, kind):
    dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard not installed")
    spec = load_study(str(write_study(tmp_path, name="dash", trials=8)))
    if kind == "sqlite":
        ref = StorageRef("sqlite", f"sqlite:///{tmp_path / 'dash.db'}")
        storage = ref.url
    else:
        ref = StorageRef("journal", str(tmp_path / "dash.log"))
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(ref.url))  # Optuna's own reader of our journal
    run_study(spec, ref, 8, progress=False)
    assert len(optuna.load_study(study_name="dash", storage=storage).trials) == 8
    app = dashboard.wsgi(storage)
    status, body = wsgi_get(app, "/api/studies")
    assert status.startswith("200")
    studies = json.loads(body)["study_summaries"]
    assert [s["study_name"] for s in studies] == ["dash"]
    status, body = wsgi_get(app, f"/api/studies/{studies[0]['study_id']}")
    assert status.startswith("200") and len(json.loads(body)["trials"]) == 8
