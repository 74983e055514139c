"""Failed check runs in detail for the local GitHub stand-in: annotations and Actions job logs.

Routes (below ``/repos/{owner}/{name}``):

* ``GET check-runs/{id}/annotations`` -> the run's annotations (paginated);
* ``GET actions/jobs/{id}/logs`` -> ``302`` to a signed link ``{base_http}/blobs/job-logs/...?sig=...``,
  as GitHub answers (the id of an Actions check run is its job's id); 404 for a job without a log.

The signed link (:func:`serve_blob`, outside the API) needs no token and, like the storage GitHub links
to, refuses a request that carries an ``Authorization`` header (403), so a client leaking its GitHub token
there fails. Set-up: :meth:`ActionsSetup.set_failed_run`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from . import github_checks
from .github_json import JsonDict
from .github_routing import ApiError, Ctx, Response, Router, paginate
from .github_state import CheckRun, RecordedRequest, State

router = Router()
BLOB_PREFIX = "/blobs/job-logs/"


def _signature(owner: str, name: str, job_id: int) -> str:
    return hashlib.sha256(f"{owner}/{name}/{job_id}".lower().encode()).hexdigest()[:32]


def _run(ctx: Ctx, owner: str, name: str, run_id: str) -> CheckRun:
    repo = ctx.repo(owner, name)
    for run in repo.check_runs:
        if run.id == int(run_id):
            return run
    raise ApiError(404, "Not Found")


@router.route("GET", "{R}/check-runs/(?P<run_id>[0-9]+)/annotations")
def list_annotations(ctx: Ctx, owner: str, name: str, run_id: str) -> Response:
    return paginate(ctx, _run(ctx, owner, name, run_id).annotations, lambda item: item)


@router.route("GET", "{R}/actions/jobs/(?P<job_id>[0-9]+)/logs")
def job_logs(ctx: Ctx, owner: str, name: str, job_id: str) -> Response:
    repo = ctx.repo(owner, name)
    if int(job_id) not in repo.job_logs:
        raise ApiError(404, "Not Found")
    sig = _signature(repo.owner, repo.name, int(job_id))
    location = f"{ctx.state.base_http}{BLOB_PREFIX}{repo.owner}/{repo.name}/{job_id}?sig={sig}"
    return 302, {"Location": location}, None


def serve_blob(state: State, request: RecordedRequest) -> tuple[int, bytes]:
    """The body behind a signed link: (status, bytes)."""
    split = urlsplit(request.path)
    owner, name, job_id = split.path[len(BLOB_PREFIX) :].split("/", 2)
    sig = parse_qs(split.query).get("sig", [""])[0]
    if request.header("Authorization") is not None:
        return 403, b"AuthenticationFailed: a signed link takes no Authorization header"
    if not job_id.isdigit() or sig != _signature(owner, name, int(job_id)):
        return 403, b"AuthenticationFailed: signature mismatch"
    with state.lock:
        repo = state.find_repo(owner, name)
        data = repo.job_logs.get(int(job_id)) if repo else None
    return (200, data) if data is not None else (404, b"BlobNotFound")


def annotation_doc(path: str, line: int, message: str, level: str) -> JsonDict:
    return {
        "path": path,
        "start_line": line,
        "end_line": line,
        "start_column": None,
        "end_column": None,
        "annotation_level": level,
        "title": None,
        "message": message,
        "raw_details": None,
        "blob_href": "",
    }


class ActionsSetup(github_checks.ChecksSetup):
    """Check-run helpers, failed runs in detail among them, mixed into ``FakeGitHub``."""

    def set_failed_run(
        self,
        owner: str,
        name: str,
        sha: str,
        check_name: str,
        *,
        conclusion: str = "failure",
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
        annotations: Sequence[tuple[str, int, str, str]] = (),
        app: str = "github-actions",
        log: bytes | None = None,
    ) -> int:
        """A completed, failed check run with its output, annotations (path, line, message, level) and,
        for an Actions job, the log its job id serves; returns the run's (and job's) id."""
        run_id = self.set_check_run(owner, name, sha, check_name, "completed", conclusion, title=title,
                                    summary=summary)  # fmt: skip
        with self.state.lock:
            repo = self.state.repo(owner, name)
            run = next(run for run in repo.check_runs if run.id == run_id)
            run.text, run.app = text, app
            run.annotations = [annotation_doc(*note) for note in annotations]
            if log is not None:
                repo.job_logs[run_id] = log
        return run_id
