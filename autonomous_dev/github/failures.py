"""A commit's failed checks and what they say: output, annotations, the Actions job's log tail."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any
from urllib.parse import quote

from autonomous_dev.errors import GitHubError
from autonomous_dev.github import joblogs, prsignals
from autonomous_dev.github.session import GitHubSession
from autonomous_dev.models import Annotation, CheckSummary, FailedCheck

log = logging.getLogger(__name__)
LOG_GONE = frozenset({403, 404, 410})  # no `actions: read`, no such job, or the log expired
MAX_PAGES = 20  # 2,000 check runs on one commit


def summary(session: GitHubSession, repo_url: str, ref: str) -> CheckSummary:
    """The commit's check runs and latest statuses by verdict; `ref` is a sha or `heads/<branch>`. Read by
    conditional GETs: unchanged checks cost no rate limit."""
    verdicts = [
        (
            str(run.get("name") or ""),
            prsignals.run_verdict(str(run.get("status") or ""), run.get("conclusion")),
        )
        for run in _check_runs(session, repo_url, ref)
    ]
    verdicts += [
        (str(status.get("context") or ""), prsignals.status_verdict(str(status.get("state") or "")))
        for status in _statuses(session, repo_url, ref)
    ]
    return CheckSummary(
        passed=tuple(name for name, verdict in verdicts if verdict == "passed"),
        pending=tuple(name for name, verdict in verdicts if verdict == "pending"),
        failed=tuple(name for name, verdict in verdicts if verdict == "failed"),
    )


def failed_checks(session: GitHubSession, repo_url: str, sha: str) -> list[FailedCheck]:
    """Failed check runs, then failed commit statuses (the latest of each), read by conditional GETs."""
    runs = [
        run
        for run in _check_runs(session, repo_url, sha)
        if prsignals.run_verdict(str(run.get("status") or ""), run.get("conclusion")) == "failed"
    ]
    found = [
        prsignals.failed_run(run, _annotations(session, repo_url, run), _job_log(session, repo_url, run))
        for run in runs
    ]
    statuses = _statuses(session, repo_url, sha)
    return found + [prsignals.failed_status(s) for s in statuses if s.get("state") in prsignals.STATUS_FAILED]


def _statuses(session: GitHubSession, repo_url: str, ref: str) -> list[dict[str, Any]]:
    """The latest status of each context (the combined status's first page: 100 contexts)."""
    url = f"{repo_url}/commits/{quote(ref, safe='/')}/status?per_page=100"
    combined = session.read(f"reading the statuses of {ref[:12]}", lambda: session.conditional(url)) or {}
    return list(combined.get("statuses") or [])


def _check_runs(session: GitHubSession, repo_url: str, sha: str) -> list[dict[str, Any]]:
    """Every page of the commit's latest check runs (each page is an object holding a list)."""
    runs: list[dict[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        url = f"{repo_url}/commits/{quote(sha, safe='/')}/check-runs?per_page=100&page={page}"
        data = session.read(f"reading the check runs of {sha[:12]}", partial(session.conditional, url)) or {}
        batch = data.get("check_runs") or []
        runs += batch
        if not batch or len(runs) >= int(data.get("total_count") or 0):
            break
    return runs


def _annotations(session: GitHubSession, repo_url: str, run: dict[str, Any]) -> tuple[Annotation, ...]:
    if not int((run.get("output") or {}).get("annotations_count") or 0):
        return ()
    url = f"{repo_url}/check-runs/{run['id']}/annotations?per_page={prsignals.MAX_ANNOTATIONS}"
    items = session.read(f"reading the annotations of {run.get('name')!r}", lambda: session.conditional(url))
    return prsignals.check_annotations(items or [])


def _job_log(session: GitHubSession, repo_url: str, run: dict[str, Any]) -> str:
    """The tail of an Actions job's log. GitHub answers 302 with a signed storage link, which PyGithub
    would refuse to follow to a host outside GitHub's domains: the link is read here instead. A server
    that answers 200 with the log itself is read as it is."""
    if (run.get("app") or {}).get("slug") != prsignals.ACTIONS_APP:
        return ""
    url = f"{repo_url}/actions/jobs/{run['id']}/logs"  # an Actions check run's id is its job's id
    what = f"finding the log of job {run['id']} ({run.get('name')!r})"
    requester = session.client.requester
    try:
        status, headers, body = session.read(
            what, lambda: requester.requestJson("GET", url, follow_302_redirect=False)
        )
    except GitHubError as exc:  # a 403 without a rate limit is raised by the retry, not returned
        status, headers, body = exc.status or 0, {}, ""
    location = headers.get("location")
    if status == 302 and location:
        return joblogs.download_tail(location, prsignals.MAX_LOG_BYTES) or ""
    if status == 200:
        data = (body or "").encode()
        kept = data[-prsignals.MAX_LOG_BYTES :]
        return prsignals.tail_bytes(kept, len(data) - len(kept))
    if status not in LOG_GONE:
        raise GitHubError(f"GitHub answered {status} while {what}", status=status)
    log.warning(
        "the log of job %s cannot be read (%s): does the token have actions: read?", run["id"], status
    )
    return ""
