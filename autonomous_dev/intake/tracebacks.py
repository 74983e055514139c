"""Find the traceback in an error report, parse it, and give it a signature that survives unrelated edits.

Python, JavaScript (Node, Chrome console), Java (and JVM languages printing alike), Go and Rust; frames are
innermost first. `ParsedError.text` is the block with CRLF read as LF and trailing spaces dropped. Python
chains report the exception finally raised and quote the whole chain; Java reports the root cause (the last
`Caused by:`); Go the first panic of a `[recovered]` re-panic. Messages are cut at their first line.
A Java frame prints only a file name, so `signature` asks the resolver for `<package dirs>/<File>.java`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import takewhile


@dataclass(frozen=True)
class Frame:
    path: str
    line: int | None
    function: str


@dataclass(frozen=True)
class ParsedError:
    language: str
    error_type: str
    message: str
    frames: tuple[Frame, ...]
    text: str


_Found = tuple[int, ParsedError]  # the index of the block's first line, and what it says

_PY_HEADER = re.compile(r"Traceback \(most recent call last\):$")  # searched: `^C` or a log prefix may lead
_DIGIT = re.compile(r"\d")
_PY_FRAME = re.compile(r'^\s+File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
_PY_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?:: ?(?P<msg>.*))?$")
_PY_CHAIN = re.compile(
    r"^(?:During handling of the above exception, another exception occurred"
    r"|The above exception was the direct cause of the following exception):$"
)
_JS_FRAME = re.compile(r"^\s+at (?:async )?(?:(?P<func>[^()]+?) \((?P<loc>.*)\)|(?P<bare>[^\s()]+))(?: \{)?$")
_JS_LOCATION = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::\d+)?$")
# `Error [ERR_X]: message`; the name must end in Error (or Exception) unless the console says Uncaught.
_JS_ERROR = re.compile(
    r"^(?:Uncaught (?:\(in promise\) )?|(?=[\w$.]*(?:Error|Exception)(?![\w$.])))"
    r"(?P<type>[A-Za-z_$][\w$.]*)(?: \[[\w.-]+\])?(?:: ?(?P<msg>.*))?$"
)
_JS_REJECTION = re.compile(r"^\[(?P<type>UnhandledPromiseRejection): (?P<msg>.*)\](?: \{)?$")
_NODE_SOURCE_LOCATION = re.compile(r"^\S+:\d+$")
_CARET = re.compile(r"^\s*[\^~]+$")
_JAVA_FRAME = re.compile(r"^\s+at (?:[^\s/()]*/)*(?P<func>[^\s/()]+)\((?P<file>[^():]*)(?::(?P<line>\d+))?\)")
_JAVA_HEADER = re.compile(
    r'^(?:Exception in thread "[^"]*" |Caused by: )?'
    r"(?P<type>(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*)(?:: ?(?P<msg>.*))?$"
)
_JAVA_MORE = re.compile(r"^\s+\.\.\. \d+ (?:more|common frames omitted)$")
_GO_PANIC = re.compile(r"^(?P<type>panic|fatal error): (?P<msg>.*?)(?: \[recovered(?:, repanicked)?\])?$")
_GO_GOROUTINE = re.compile(r"^goroutine \d+ .*\]:$")
_GO_FUNC = re.compile(r"^(?P<func>\S+)\([^()]*\)$")
_GO_LOCATION = re.compile(r"^\s+(?P<path>.+?):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$")
_RUST_PANIC = re.compile(
    r"^thread '[^']*'(?: \(\d+\))? panicked at "
    r"(?:'(?P<msg>.*)', (?P<old_path>[^']+?):(?P<old_line>\d+):\d+|(?P<path>.+?):(?P<line>\d+):\d+:)$"
)
_RUST_FRAME = re.compile(r"^\s*\d+:\s+(?:0x[0-9a-f]+ - )?(?P<func>.+?)(?:::h[0-9a-f]{16})?$")
_RUST_AT = re.compile(r"^\s+at (?P<path>.+?):(?P<line>\d+)(?::\d+)?$")

_LOOKBACK = 8  # how far above its first frame an error line (plus message lines) may start
_GO_LOOKAHEAD = 60  # a fatal error can print registers and a runtime stack before the goroutine


def parse_error(text: str) -> ParsedError | None:
    """The first (for Python: the last, i.e. the one finally raised) traceback in `text`; None if none."""
    lines = [line.rstrip() for line in text.splitlines()]
    found = [hit for finder in _FINDERS if (hit := finder(lines)) is not None]
    return min(found, key=lambda hit: hit[0])[1] if found else None


def _join(lines: Sequence[str], start: int, end: int) -> str:
    return "\n".join(lines[start:end])


def _find_python(lines: Sequence[str]) -> _Found | None:
    for start, line in enumerate(lines):
        if (header := _PY_HEADER.search(line)) is None:
            continue
        body = _without_prefix(lines, start, line[: header.start()])
        end, error = _python_traceback(body, start)
        if not error.error_type:  # no exception line: not a traceback, or one cut off
            continue
        while (chained := _chained_header(body, end)) is not None:
            chained_end, chained_error = _python_traceback(body, chained)
            if not chained_error.error_type:
                break
            end, error = chained_end, chained_error
        return start, replace(error, text=_join(body, start, end))
    return None


def _without_prefix(lines: Sequence[str], start: int, prefix: str) -> Sequence[str]:
    """`lines` with a log prefix shaped like the header's (`web-1  | `, a timestamp) cut from `start` on."""
    if not prefix:
        return lines
    shape = _DIGIT.sub("0", prefix)
    cut = [
        line[len(prefix) :] if _DIGIT.sub("0", line[: len(prefix)]) == shape else line
        for line in lines[start:]
    ]
    return [*lines[:start], *cut]


def _python_traceback(lines: Sequence[str], header: int) -> tuple[int, ParsedError]:
    frames: list[Frame] = []
    i = header + 1
    while i < len(lines) and lines[i][:1].isspace():  # frames, source lines, carets: all indented
        if match := _PY_FRAME.match(lines[i]):
            frames.append(Frame(match["path"], int(match["line"]), match["func"] or ""))
        i += 1
    exception = _PY_EXCEPTION.match(lines[i]) if i < len(lines) else None
    frames.reverse()  # Python prints the most recent call last
    end = i + 1 if exception else i  # a report may be cut off before the exception line
    error_type, message = (exception["type"], exception["msg"] or "") if exception else ("", "")
    return end, ParsedError("python", error_type, message, tuple(frames), _join(lines, header, end))


def _chained_header(lines: Sequence[str], end: int) -> int | None:
    """The header of the traceback chained after the one ending at `end`, if any."""
    i = _skip_blank(lines, end)
    if i >= len(lines) or not _PY_CHAIN.match(lines[i]):
        return None
    i = _skip_blank(lines, i + 1)
    return i if i < len(lines) and _PY_HEADER.search(lines[i]) else None


def _skip_blank(lines: Sequence[str], i: int) -> int:
    while i < len(lines) and not lines[i]:
        i += 1
    return i


def _headed_runs(
    lines: Sequence[str], frame: re.Pattern[str], header: re.Pattern[str]
) -> Iterable[tuple[int, re.Match[str], int]]:
    """Each run of frame lines with an error line above it: (error line index, its match, first frame)."""
    for run in range(len(lines)):
        if frame.match(lines[run]) and (run == 0 or not frame.match(lines[run - 1])):
            for i in range(run - 1, max(run - _LOOKBACK, 0) - 1, -1):  # the nearest matching line wins
                if match := header.match(lines[i]):
                    yield i, match, run
                    break


def _find_javascript(lines: Sequence[str]) -> _Found | None:
    runs = _headed_runs(lines, _JS_FRAME, _JS_ERROR)
    return next((_javascript_error(lines, *run) for run in runs), None)


def _find_js_rejection(lines: Sequence[str]) -> _Found | None:
    """Node's report of a promise rejected with something other than an Error: there is no stack."""
    for i, line in enumerate(lines):
        if rejection := _JS_REJECTION.match(line):
            start = _node_preamble(lines, i)
            text = _join(lines, start, i + 1)
            return start, ParsedError("javascript", rejection["type"], rejection["msg"], (), text)
    return None


def _javascript_error(lines: Sequence[str], at: int, error: re.Match[str], first_frame: int) -> _Found:
    frames: list[Frame] = []
    end = first_frame
    while end < len(lines) and (frame := _JS_FRAME.match(lines[end])):
        location = frame["loc"] if frame["loc"] is not None else frame["bare"]
        if where := _JS_LOCATION.match(location):
            frames.append(Frame(where["path"], int(where["line"]), frame["func"] or ""))
        else:  # "native", "<anonymous>", "index 0" (Promise.all)
            frames.append(Frame(location, None, frame["func"] or ""))
        end += 1
    start = _node_preamble(lines, at)
    error_type, message = error["type"], error["msg"] or ""
    return start, ParsedError("javascript", error_type, message, tuple(frames), _join(lines, start, end))


def _node_preamble(lines: Sequence[str], error_line: int) -> int:
    """Where Node's `file:line` / source line / caret preamble above an uncaught error starts."""
    i = error_line - 1
    while i >= 0 and not lines[i]:
        i -= 1
    if i >= 2 and _CARET.match(lines[i]) and _NODE_SOURCE_LOCATION.match(lines[i - 2]):
        return i - 2
    return error_line


def _find_java(lines: Sequence[str]) -> _Found | None:
    runs = _headed_runs(lines, _JAVA_FRAME, _JAVA_HEADER)
    return next(((header, _java_error(lines, header)) for header, _, _ in runs), None)


def _java_error(lines: Sequence[str], header: int) -> ParsedError:
    causes: list[tuple[re.Match[str], list[Frame]]] = []
    suppressed = in_message = False
    end = header + 1
    for i in range(header, len(lines)):
        line = lines[i]
        if (i == header or line.startswith("Caused by: ")) and (match := _JAVA_HEADER.match(line)):
            causes.append((match, []))
            suppressed, in_message, end = False, True, i + 1
        elif frame := _JAVA_FRAME.match(line):
            if not suppressed:  # frames of a suppressed exception belong to it, not to the cause chain
                line_number = int(frame["line"]) if frame["line"] else None
                causes[-1][1].append(Frame(frame["file"], line_number, frame["func"]))
            in_message, end = False, i + 1
        elif line.lstrip().startswith("Suppressed: "):
            suppressed = True
        elif _JAVA_MORE.match(line):
            in_message, end = False, i + 1
        elif not line[:1].isspace() and not (
            in_message and any(map(_JAVA_FRAME.match, lines[i + 1 : i + 4]))
        ):
            break  # neither part of the trace nor a line of the message just above
    root, frames = causes[-1]
    return ParsedError("java", root["type"], root["msg"] or "", tuple(frames), _join(lines, header, end))


def _find_go(lines: Sequence[str]) -> _Found | None:
    for start, line in enumerate(lines):
        if panic := _GO_PANIC.match(line):
            stop = min(start + _GO_LOOKAHEAD, len(lines))
            goroutine = next((i for i in range(start + 1, stop) if _GO_GOROUTINE.match(lines[i])), None)
            frames, end = _go_frames(lines, goroutine) if goroutine is not None else ((), start + 1)
            return start, ParsedError("go", panic["type"], panic["msg"], frames, _join(lines, start, end))
    return None


def _go_frames(lines: Sequence[str], goroutine: int) -> tuple[tuple[Frame, ...], int]:
    """The first goroutine's frames (function line, then its location line) and where they end."""
    frames: list[Frame] = []
    i = goroutine + 1
    while i < len(lines):
        if lines[i] == "...additional frames elided...":
            i += 1
            continue
        location = _GO_LOCATION.match(lines[i + 1]) if i + 1 < len(lines) else None
        if location is None:
            break
        if lines[i].startswith("created by "):  # where the goroutine was started, not a frame
            return tuple(frames), i + 2
        if (function := _GO_FUNC.match(lines[i])) is None:
            break
        frames.append(Frame(location["path"], int(location["line"]), function["func"]))
        i += 2
    return tuple(frames), i


def _find_rust(lines: Sequence[str]) -> _Found | None:
    for start, line in enumerate(lines):
        if panic := _RUST_PANIC.match(line):
            return start, _rust_panic(lines, start, panic)
    return None


def _rust_panic(lines: Sequence[str], start: int, panic: re.Match[str]) -> ParsedError:
    if panic["path"] is None:  # before Rust 1.73: the message is quoted on the same line
        message, end = panic["msg"], start + 1
        location = Frame(panic["old_path"], int(panic["old_line"]), "")
    else:
        message = lines[start + 1] if start + 1 < len(lines) else ""
        end = min(start + 2, len(lines))
        location = Frame(panic["path"], int(panic["line"]), "")
    while end < len(lines) and lines[end][:1].isspace():  # assert_eq!'s `left:` / `right:` lines
        end += 1
    i = end
    while i < len(lines) and lines[i].startswith("note: "):
        i += 1
    frames: tuple[Frame, ...] = (location,)
    if i < len(lines) and lines[i] == "stack backtrace:":
        frames, end = _rust_backtrace(lines, i + 1)
    return ParsedError("rust", "panic", message, frames, _join(lines, start, end))


def _rust_backtrace(lines: Sequence[str], first: int) -> tuple[tuple[Frame, ...], int]:
    frames: list[Frame] = []
    i = first
    while i < len(lines) and (function := _RUST_FRAME.match(lines[i])):
        at = _RUST_AT.match(lines[i + 1]) if i + 1 < len(lines) else None
        # frames without debug info (`__libc_start_main`, `_start`) have no `at` line
        frames.append(
            Frame(at["path"], int(at["line"]), function["func"]) if at else Frame("", None, function["func"])
        )
        i += 2 if at else 1
    return tuple(frames), i


_FINDERS = (_find_python, _find_javascript, _find_js_rejection, _find_java, _find_go, _find_rust)

_TIME = r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
# Order matters: at one position the earlier alternative wins, and each text is replaced only once.
_VOLATILE: tuple[tuple[str, str, str], ...] = (
    ("time", _TIME, "<time>"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    ("email", r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b", "<email>"),
    ("address", r"\b0x[0-9a-fA-F]+\b", "0x?"),
    ("hex", r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b", "<hex>"),
    ("number", r"\d+(?:\.\d+)*", "<n>"),
    ("space", r"\s+", " "),
)
_VOLATILE_RE = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern, _ in _VOLATILE))
_VOLATILE_REPLACEMENT = {name: replacement for name, _, replacement in _VOLATILE}


def normalise_message(message: str) -> str:
    """The message with addresses, ids, UUIDs, numbers, timestamps and e-mail addresses replaced."""
    return _VOLATILE_RE.sub(lambda match: _VOLATILE_REPLACEMENT[str(match.lastgroup)], message).strip()


_SIGNATURE_FRAMES = 3
_JVM_LIBRARY_PACKAGES = ("java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "scala.")


def signature(error: ParsedError, in_repo: Callable[[str], str | None]) -> str:
    """A 16-hex-digit digest of what identifies the bug: no line numbers, no library frames."""
    frames: list[tuple[str, str]] = []
    for frame in error.frames:
        path = _repo_path(error.language, frame, in_repo)
        if path is not None:
            frames.append((path, frame.function))
        if len(frames) == _SIGNATURE_FRAMES:
            break
    parts = [error.language, error.error_type, normalise_message(error.message), frames]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _repo_path(language: str, frame: Frame, in_repo: Callable[[str], str | None]) -> str | None:
    if language != "java":
        return in_repo(frame.path)
    if frame.function.startswith(_JVM_LIBRARY_PACKAGES):
        return None
    package = takewhile(lambda part: part[:1].islower(), frame.function.split(".")[:-2])
    return in_repo("/".join([*package, frame.path]))


_LIBRARY_MARKERS = (  # installed packages, standard libraries, toolchains
    *("/site-packages/", "/dist-packages/", "/node_modules/", "/rustc/", "/usr/lib/", "/usr/local/go/"),
    *("/usr/local/lib/", "/lib/python3", "/.cargo/registry/", "/go/pkg/mod/"),
)
_URL_PREFIX = re.compile(r"^[A-Za-z][\w+.-]+://[^/]*")  # file://, webpack://, https://host
_ABSOLUTE = re.compile(r"^(?:/|[A-Za-z]:/)")
_JVM_SOURCES = (".java", ".kt", ".scala", ".groovy")


def repo_path_resolver(files: Iterable[str]) -> Callable[[str], str | None]:
    """A function mapping a printed frame path to the repository file it names, None for other files.

    The repository file must be a whole-component tail of the printed path; a relative printed path may
    also be the tail of a repository file. JVM paths (Foo.java, or com/acme/util/Foo.java as `signature`
    passes them) match by file name, preferring the file with the longest matching tail. Ties go to the
    shorter, then alphabetically first, path.
    """
    by_name: dict[str, list[tuple[str, ...]]] = {}
    for file in sorted(set(files)):
        if parts := _components(file):
            by_name.setdefault(parts[-1], []).append(parts)

    def resolve(printed: str) -> str | None:
        path = _URL_PREFIX.sub("", printed.strip().strip("()").replace("\\", "/"))
        if any(marker in "/" + path for marker in _LIBRARY_MARKERS):
            return None
        parts = _components(path)
        if not parts:
            return None
        relative, jvm = not _ABSOLUTE.match(path), parts[-1].endswith(_JVM_SOURCES)
        fits = [  # the smallest is the longest matching tail, then the shortest path, then A-Z first
            (-common, len(candidate), candidate)
            for candidate in by_name.get(parts[-1], [])
            if (common := _common_tail(parts, candidate)) == len(candidate)
            or jvm
            or (relative and common == len(parts))
        ]
        return "/".join(min(fits)[2]) if fits else None

    return resolve


def _components(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part not in ("", "."))


def _common_tail(left: Sequence[str], right: Sequence[str]) -> int:
    count = 0
    while count < min(len(left), len(right)) and left[-1 - count] == right[-1 - count]:
        count += 1
    return count
