"""Tracebacks are found in noisy reports, parsed innermost-first, and signed stably across languages."""

from __future__ import annotations

import re

import pytest

from autonomous_dev.intake.tracebacks import (
    Frame,
    ParsedError,
    normalise_message,
    parse_error,
    repo_path_resolver,
    signature,
)

# --- Python -----------------------------------------------------------------------------------------

PY_SIMPLE = """\
2024-05-02 10:14:07,512 INFO  worker started pid=4411
2024-05-02 10:14:09,003 ERROR request failed
Traceback (most recent call last):
  File "/srv/app/src/calc/api.py", line 41, in handle
    return divide(a, b)
           ^^^^^^^^^^^^
  File "/srv/app/src/calc/ops.py", line 12, in divide
    raise ValueError(f"bad value: {b!r}")
ValueError: bad value: 0
2024-05-02 10:14:09,004 INFO  shutting down
"""

PY_LIBRARY = """\
Traceback (most recent call last):
  File "/srv/app/src/sync/client.py", line 88, in fetch
    resp = requests.get(url, timeout=5)
  File "/srv/app/.venv/lib/python3.11/site-packages/requests/api.py", line 73, in get
    return request("get", url, params=params, **kwargs)
  File "/srv/app/.venv/lib/python3.11/site-packages/requests/adapters.py", line 519, in send
    raise ConnectionError(e, request=request)
requests.exceptions.ConnectionError: HTTPConnectionPool(host='localhost', port=8080): Max retries \
exceeded with url: /v1/items (Caused by NewConnectionError('<urllib3.connection.HTTPConnection object \
at 0x7f3a2c1d5e10>: Failed to establish a new connection: [Errno 111] Connection refused'))
"""

PY_INTERRUPT = """\
$ python main.py
^CTraceback (most recent call last):
  File "/home/dev/app/main.py", line 9, in <module>
    time.sleep(1)
KeyboardInterrupt
$
"""

PY_DURING_HANDLING = """\
[worker-3] handling job 8812
Traceback (most recent call last):
  File "/srv/app/src/store.py", line 20, in load
    return self._cache[key]
           ~~~~~~~~~~~^^^^^
KeyError: 'user:42'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/src/handlers.py", line 7, in get_user
    return store.load(f"user:{uid}")
  File "/srv/app/src/store.py", line 23, in load
    row = self._db.fetch(key)
          ^^^^^^^^^^^^^^
AttributeError: 'NoneType' object has no attribute 'fetch'
[worker-3] job 8812 failed
"""

PY_DIRECT_CAUSE_CRLF = (
    "Traceback (most recent call last):\r\n"
    '  File "/app/settings.py", line 30, in read_port\r\n'
    "    return int(raw)\r\n"
    "ValueError: invalid literal for int() with base 10: 'eighty'\r\n"
    "\r\n"
    "The above exception was the direct cause of the following exception:\r\n"
    "\r\n"
    "Traceback (most recent call last):\r\n"
    '  File "/app/main.py", line 5, in <module>\r\n'
    "    port = read_port()\r\n"
    '  File "/app/settings.py", line 32, in read_port\r\n'
    '    raise ConfigError("PORT must be a number") from exc\r\n'
    "settings.ConfigError: PORT must be a number\r\n"
)

PY_MULTILINE_MESSAGE = """\
Traceback (most recent call last):
  File "/app/cfg.py", line 3, in <module>
    raise RuntimeError("first line\\nsecond line")
RuntimeError: first line
second line
"""


def test_python_traceback_in_log_noise() -> None:
    error = parse_error(PY_SIMPLE)

    assert error is not None
    assert (error.language, error.error_type, error.message) == ("python", "ValueError", "bad value: 0")
    assert error.frames == (
        Frame("/srv/app/src/calc/ops.py", 12, "divide"),
        Frame("/srv/app/src/calc/api.py", 41, "handle"),
    )
    assert error.text.startswith("Traceback (most recent call last):")
    assert error.text.endswith("ValueError: bad value: 0")
    assert "INFO" not in error.text


def test_python_dotted_exception_and_library_frames() -> None:
    error = parse_error(PY_LIBRARY)

    assert error is not None
    assert error.error_type == "requests.exceptions.ConnectionError"
    assert error.message.startswith("HTTPConnectionPool(host='localhost', port=8080)")
    assert error.frames[0] == Frame(
        "/srv/app/.venv/lib/python3.11/site-packages/requests/adapters.py", 519, "send"
    )
    assert error.frames[-1] == Frame("/srv/app/src/sync/client.py", 88, "fetch")


def test_python_exception_without_message() -> None:
    error = parse_error(PY_INTERRUPT)

    assert error is not None
    assert (error.error_type, error.message) == ("KeyboardInterrupt", "")
    assert error.frames == (Frame("/home/dev/app/main.py", 9, "<module>"),)
    assert error.text.endswith("KeyboardInterrupt")


def test_python_chain_reports_the_exception_finally_raised() -> None:
    error = parse_error(PY_DURING_HANDLING)

    assert error is not None
    assert error.error_type == "AttributeError"
    assert error.message == "'NoneType' object has no attribute 'fetch'"
    assert error.frames == (
        Frame("/srv/app/src/store.py", 23, "load"),
        Frame("/srv/app/src/handlers.py", 7, "get_user"),
    )
    assert error.text.startswith("Traceback")  # the whole chain is quoted
    assert "KeyError: 'user:42'" in error.text
    assert error.text.endswith("AttributeError: 'NoneType' object has no attribute 'fetch'")


def test_python_direct_cause_with_crlf_line_endings() -> None:
    error = parse_error(PY_DIRECT_CAUSE_CRLF)

    assert error is not None
    assert (error.error_type, error.message) == ("settings.ConfigError", "PORT must be a number")
    assert error.frames[0] == Frame("/app/settings.py", 32, "read_port")
    assert error.frames[1] == Frame("/app/main.py", 5, "<module>")
    assert "\r" not in error.text


def test_python_multiline_message_is_cut_at_the_first_line() -> None:
    error = parse_error(PY_MULTILINE_MESSAGE)

    assert error is not None
    assert (error.error_type, error.message) == ("RuntimeError", "first line")


def test_unrelated_python_tracebacks_report_the_first() -> None:
    second = PY_SIMPLE.replace("ValueError: bad value: 0", "OSError: disk full")

    error = parse_error(PY_INTERRUPT + "\nlater, another run:\n" + second)

    assert error is not None
    assert error.error_type == "KeyboardInterrupt"


@pytest.mark.parametrize(
    "prefix",
    ["web-1  | ", "> ", "    ", "2024-05-02T10:14:09.512Z "],
    ids=["compose", "markdown-quote", "indented", "timestamp"],
)
def test_python_traceback_under_a_log_prefix(prefix: str) -> None:
    lines = PY_SIMPLE.splitlines()[2:9]
    stamped = [prefix.replace("09.512", f"{9 + i:02d}.{i}12") for i in range(len(lines))]
    text = "\n".join(p + line for p, line in zip(stamped, lines, strict=True))

    error = parse_error("unrelated first line\n" + text)

    assert error is not None
    assert (error.error_type, error.message) == ("ValueError", "bad value: 0")
    assert error.frames[0] == Frame("/srv/app/src/calc/ops.py", 12, "divide")
    assert error.text == "\n".join(lines)


def test_python_header_without_an_exception_line_is_skipped() -> None:
    cut_off = 'Traceback (most recent call last):\n  File "/app/a.py", line 1, in <module>\n'

    assert parse_error(cut_off) is None
    assert (error := parse_error(cut_off + "\n" + PY_INTERRUPT)) is not None
    assert error.error_type == "KeyboardInterrupt"


def test_python_chain_stops_at_a_traceback_cut_off() -> None:
    text = PY_INTERRUPT + "\nDuring handling of the above exception, another exception occurred:\n\n"
    text += 'Traceback (most recent call last):\n  File "/app/b.py", line 2, in f\n'

    error = parse_error(text)

    assert error is not None
    assert error.error_type == "KeyboardInterrupt"
    assert error.text.endswith("KeyboardInterrupt")


# --- JavaScript ---------------------------------------------------------------------------------------

JS_NODE = """\
> api@1.4.0 start
> node src/index.js

listening on :3000
/app/src/users.js:14
  return user.id;
              ^

TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:14:15)
    at /app/src/index.js:5:3
    at async Promise.all (index 0)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)

Node.js v18.17.0
"""

JS_BROWSER = """\
[HMR] connected
Uncaught Error: boom
    at HTMLButtonElement.onClick (https://shop.example.com/static/js/main.3f2a1c.js:2:12345)
    at webpack:///src/components/Button.jsx:12:7
"""

JS_REJECTION = """\
node:internal/process/promises:288
            triggerUncaughtException(err, true /* fromPromise */);
            ^

[UnhandledPromiseRejection: This error originated either by throwing inside of an async function \
without a catch block, or by rejecting a promise which was not handled with .catch(). The promise \
rejected with the reason "oops".] {
  code: 'ERR_UNHANDLED_REJECTION'
}

Node.js v18.17.0
"""

JS_WITH_PROPERTIES = """\
info: connecting to database
Error: connect ECONNREFUSED 127.0.0.1:5432
    at Pool.connect (/app/node_modules/pg-pool/index.js:45:11)
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {
  errno: -111,
  code: 'ECONNREFUSED'
}
"""

JS_ERROR_CODE = """\
Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'express' imported from /app/src/server.mjs
    at new NodeError (node:internal/errors:405:5)
    at packageResolve (node:internal/modules/esm/resolve:916:9)
    at async file:///app/src/server.mjs:3:1
"""


def test_node_error_with_source_preamble() -> None:
    error = parse_error(JS_NODE)

    assert error is not None
    assert (error.language, error.error_type) == ("javascript", "TypeError")
    assert error.message == "Cannot read properties of undefined (reading 'id')"
    assert error.frames == (
        Frame("/app/src/users.js", 14, "getUser"),
        Frame("/app/src/index.js", 5, ""),
        Frame("index 0", None, "Promise.all"),
        Frame("node:internal/modules/cjs/loader", 1256, "Module._compile"),
    )
    assert error.text.startswith("/app/src/users.js:14\n  return user.id;")
    assert error.text.endswith("(node:internal/modules/cjs/loader:1256:14)")


def test_browser_console_uncaught_error() -> None:
    error = parse_error(JS_BROWSER)

    assert error is not None
    assert (error.language, error.error_type, error.message) == ("javascript", "Error", "boom")
    assert error.frames == (
        Frame("https://shop.example.com/static/js/main.3f2a1c.js", 2, "HTMLButtonElement.onClick"),
        Frame("webpack:///src/components/Button.jsx", 12, ""),
    )
    assert "[HMR]" not in error.text


def test_unhandled_promise_rejection() -> None:
    error = parse_error(JS_REJECTION)

    assert error is not None
    assert (error.language, error.error_type) == ("javascript", "UnhandledPromiseRejection")
    assert error.message.endswith('The promise rejected with the reason "oops".')
    assert error.frames == ()
    assert error.text.startswith("node:internal/process/promises:288")


def test_node_error_with_properties_and_code() -> None:
    connect = parse_error(JS_WITH_PROPERTIES)
    missing = parse_error(JS_ERROR_CODE)

    assert connect is not None and missing is not None
    assert (connect.error_type, connect.message) == ("Error", "connect ECONNREFUSED 127.0.0.1:5432")
    assert connect.frames[1] == Frame("node:net", 1555, "TCPConnectWrap.afterConnect [as oncomplete]")
    assert "errno" not in connect.text
    assert missing.error_type == "Error"
    assert missing.message == "Cannot find package 'express' imported from /app/src/server.mjs"
    assert missing.frames[0] == Frame("node:internal/errors", 405, "new NodeError")
    assert missing.frames[2] == Frame("file:///app/src/server.mjs", 3, "")


# --- Java ---------------------------------------------------------------------------------------------

JAVA_CAUSED_BY = """\
12:00:01.123 [main] INFO  com.acme.App - starting
Exception in thread "main" java.lang.IllegalStateException: Queue full
\tat com.acme.queue.Worker.push(Worker.java:42)
\tat com.acme.queue.Dispatcher.dispatch(Dispatcher.java:17)
\tat com.acme.App.main(App.java:9)
Caused by: java.lang.RuntimeException: journal write failed
\tat com.acme.store.Journal.flush(Journal.java:101)
\tat com.acme.queue.Worker.push(Worker.java:40)
\t... 2 more
Caused by: java.io.IOException: disk full
\tat java.base/java.io.FileOutputStream.writeBytes(Native Method)
\tat com.acme.store.Journal.append(Journal.java:88)
\tat com.acme.store.Journal.flush(Journal.java:99)
\t... 3 more
12:00:01.130 [main] INFO  com.acme.App - exiting
"""

JAVA_NPE = """\
java.lang.NullPointerException: Cannot invoke "String.length()" because "s" is null
\tat com.acme.util.Strings.size(Strings.java:7)
\tat java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)
\tat java.base/java.lang.Thread.run(Thread.java:833)
"""

JAVA_SPRING = """\
2024-05-02 10:15:00.001 ERROR 1 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet] : \
Servlet.service() threw exception
org.springframework.dao.DataAccessResourceFailureException: could not open connection
\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convert(HibernateJpaDialect.java:277)
\tat com.acme.orders.OrderService.place(OrderService.java:55)
\tSuppressed: java.lang.IllegalStateException: cleanup failed
\t\tat com.acme.orders.OrderService.cleanup(OrderService.java:90)
\t\t... 1 more
Caused by: org.postgresql.util.PSQLException: Connection to localhost:5432 refused.
  Check that the hostname and port are correct.
\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)
\tat app//com.acme.db.Pool.open(Pool.java:31)
\t... 12 common frames omitted
2024-05-02 10:15:00.002 INFO 1 --- [main] c.a.App : done
"""


def test_consecutive_java_traces_are_not_merged() -> None:
    second = "2024-05-02 10:15:01 ERROR again\njava.lang.RuntimeException: b\n\tat com.acme.B.b(B.java:2)\n"

    error = parse_error(JAVA_NPE + second)

    assert error is not None
    assert error.error_type == "java.lang.NullPointerException"
    assert len(error.frames) == 3
    assert "again" not in error.text


def test_java_reports_the_root_cause_with_its_frames() -> None:
    error = parse_error(JAVA_CAUSED_BY)

    assert error is not None
    assert (error.language, error.error_type, error.message) == ("java", "java.io.IOException", "disk full")
    assert error.frames == (
        Frame("Native Method", None, "java.io.FileOutputStream.writeBytes"),
        Frame("Journal.java", 88, "com.acme.store.Journal.append"),
        Frame("Journal.java", 99, "com.acme.store.Journal.flush"),
    )
    assert error.text.startswith('Exception in thread "main"')
    assert error.text.endswith("\t... 3 more")


def test_java_without_cause_reports_the_first_exception() -> None:
    error = parse_error(JAVA_NPE)

    assert error is not None
    assert error.error_type == "java.lang.NullPointerException"
    assert error.message == 'Cannot invoke "String.length()" because "s" is null'
    assert error.frames[0] == Frame("Strings.java", 7, "com.acme.util.Strings.size")
    assert error.frames[2] == Frame("Thread.java", 833, "java.lang.Thread.run")


def test_java_suppressed_frames_and_message_lines_are_skipped() -> None:
    error = parse_error(JAVA_SPRING)

    assert error is not None
    assert error.error_type == "org.postgresql.util.PSQLException"
    assert error.message == "Connection to localhost:5432 refused."
    assert error.frames[1] == Frame("Pool.java", 31, "com.acme.db.Pool.open")
    assert error.text.startswith("org.springframework.dao.DataAccessResourceFailureException")
    assert error.text.endswith("common frames omitted")
    top = parse_error(JAVA_SPRING.split("Caused by")[0])
    assert top is not None
    assert [frame.function for frame in top.frames] == [
        "org.springframework.orm.jpa.vendor.HibernateJpaDialect.convert",
        "com.acme.orders.OrderService.place",
    ]


# --- Go -----------------------------------------------------------------------------------------------

GO_INDEX = """\
$ go run .
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.process(...)
\t/home/dev/app/main.go:12
main.main()
\t/home/dev/app/main.go:7 +0x1d
exit status 2
"""

GO_NIL = """\
2024/05/02 10:16:00 serving on :8080
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6b7f3a]

goroutine 34 [running]:
github.com/acme/app/internal/server.(*Server).handle(0x0, {0x7f1c2d0, 0xc0001a2000})
\t/home/dev/app/internal/server/server.go:88 +0x3a
net/http.HandlerFunc.ServeHTTP(0xc000012345?, {0x7f1c2d0?, 0xc0001a2000?}, 0x4?)
\t/usr/local/go/src/net/http/server.go:2136 +0x29
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x5cb

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f0e, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85
"""

GO_RECOVERED = """\
panic: boom [recovered]
\tpanic: boom

goroutine 1 [running]:
panic({0x4a0f20?, 0x4e1a38?})
\t/usr/local/go/src/runtime/panic.go:914 +0x21f
main.main.func1()
\t/tmp/app/main.go:8 +0x25
main.main()
\t/tmp/app/main.go:11 +0x45
exit status 2
"""

GO_DEADLOCK = """\
fatal error: all goroutines are asleep - deadlock!

goroutine 1 [chan receive]:
main.main()
\t/home/dev/app/main.go:9 +0x2d
exit status 2
"""


def test_go_runtime_error_panic() -> None:
    error = parse_error(GO_INDEX)

    assert error is not None
    assert (error.language, error.error_type) == ("go", "panic")
    assert error.message == "runtime error: index out of range [5] with length 3"
    assert error.frames == (
        Frame("/home/dev/app/main.go", 12, "main.process"),
        Frame("/home/dev/app/main.go", 7, "main.main"),
    )
    assert error.text.startswith("panic:")
    assert "exit status" not in error.text


def test_go_created_by_and_other_goroutines_are_not_frames() -> None:
    error = parse_error(GO_NIL)

    assert error is not None
    assert error.message == "runtime error: invalid memory address or nil pointer dereference"
    assert error.frames == (
        Frame(
            "/home/dev/app/internal/server/server.go",
            88,
            "github.com/acme/app/internal/server.(*Server).handle",
        ),
        Frame("/usr/local/go/src/net/http/server.go", 2136, "net/http.HandlerFunc.ServeHTTP"),
    )
    assert error.text.endswith("server.go:3086 +0x5cb")
    assert "serving on" not in error.text


def test_go_recovered_panic_and_fatal_error() -> None:
    recovered = parse_error(GO_RECOVERED)
    deadlock = parse_error(GO_DEADLOCK)

    assert recovered is not None and deadlock is not None
    assert (recovered.error_type, recovered.message) == ("panic", "boom")
    assert recovered.frames[:2] == (
        Frame("/usr/local/go/src/runtime/panic.go", 914, "panic"),
        Frame("/tmp/app/main.go", 8, "main.main.func1"),
    )
    assert (deadlock.error_type, deadlock.message) == ("fatal error", "all goroutines are asleep - deadlock!")
    assert deadlock.frames == (Frame("/home/dev/app/main.go", 9, "main.main"),)


# --- Rust ---------------------------------------------------------------------------------------------

RUST_NEW = """\
   Compiling myapp v0.1.0 (/home/dev/myapp)
    Finished dev [unoptimized + debuginfo] target(s) in 0.52s
     Running `target/debug/myapp`
thread 'main' panicked at src/main.rs:5:10:
called `Option::unwrap()` on a `None` value
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"""

RUST_OLD = """\
thread 'main' panicked at 'index out of bounds: the len is 3 but the index is 5', src/main.rs:5:10
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
error: process didn't exit successfully: `target/debug/myapp` (exit status: 101)
"""

RUST_BACKTRACE = """\
[2024-05-02T10:17:00Z INFO  myapp] loading config
thread 'main' panicked at src/config.rs:27:18:
called `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit }
stack backtrace:
   0: rust_begin_unwind
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:597:5
   1: core::panicking::panic_fmt
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/panicking.rs:72:14
   2: core::result::unwrap_failed
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/result.rs:1652:5
   3: myapp::parse_config
             at ./src/config.rs:27:18
   4: myapp::main
             at ./src/main.rs:8:5
   5: __libc_start_main
   6: _start
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
"""

RUST_ASSERT = """\
running 1 test
thread 'tokio-runtime-worker' panicked at src/handlers.rs:40:9:
assertion `left == right` failed: ids differ
  left: 3
 right: 4
test handlers::tests::ids ... FAILED
"""


def test_rust_new_format_panic() -> None:
    error = parse_error(RUST_NEW)

    assert error is not None
    assert (error.language, error.error_type) == ("rust", "panic")
    assert error.message == "called `Option::unwrap()` on a `None` value"
    assert error.frames == (Frame("src/main.rs", 5, ""),)
    assert (
        error.text
        == "thread 'main' panicked at src/main.rs:5:10:\ncalled `Option::unwrap()` on a `None` value"
    )


def test_rust_old_format_panic() -> None:
    error = parse_error(RUST_OLD)

    assert error is not None
    assert error.message == "index out of bounds: the len is 3 but the index is 5"
    assert error.frames == (Frame("src/main.rs", 5, ""),)
    assert "error: process" not in error.text


def test_rust_backtrace_frames_innermost_first() -> None:
    error = parse_error(RUST_BACKTRACE)

    assert error is not None
    assert (
        error.message == "called `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit }"
    )
    assert error.frames[0] == Frame(
        "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs",
        597,
        "rust_begin_unwind",
    )
    assert error.frames[3] == Frame("./src/config.rs", 27, "myapp::parse_config")
    assert error.frames[4] == Frame("./src/main.rs", 8, "myapp::main")
    assert error.frames[5:] == (Frame("", None, "__libc_start_main"), Frame("", None, "_start"))
    assert error.text.endswith("   6: _start")
    assert "INFO" not in error.text


def test_rust_multiline_assertion_message() -> None:
    error = parse_error(RUST_ASSERT)

    assert error is not None
    assert error.message == "assertion `left == right` failed: ids differ"
    assert error.frames == (Frame("src/handlers.rs", 40, ""),)
    assert error.text.endswith(" right: 4")


# --- finding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-05-02 10:14:07 INFO all good\n2024-05-02 10:14:08 WARN slow request (1200 ms)\n",
        "The Traceback (most recent call last) header is how Python starts a traceback.\n",
        "Error: something went wrong\nplease try again\n",
        "    at the moment nothing is wrong\n    at all\n",
        "thread 'main' finished\npanicked? no.\n",
        "Warning: deprecated option\n    at config (/app/src/config.js:3:1)\n",  # not an error name
        "Traceback (most recent call last):\n",
    ],
)
def test_text_without_a_traceback(text: str) -> None:
    assert parse_error(text) is None


def test_the_first_traceback_in_the_text_is_reported() -> None:
    assert (error := parse_error(GO_DEADLOCK + "\n" + PY_SIMPLE)) is not None
    assert error.language == "go"
    assert (error := parse_error(PY_SIMPLE + "\n" + JS_NODE)) is not None
    assert error.language == "python"
    assert (error := parse_error(JS_BROWSER + "\n" + JAVA_NPE)) is not None
    assert error.language == "javascript"
    assert (error := parse_error(RUST_BACKTRACE + JAVA_NPE)) is not None
    assert error.language == "rust"


# --- normalise_message --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("<app.models.User object at 0x7f3a2c1d5e10> is locked", "<app.models.User object at 0x?> is locked"),
        ("job 3f2b6c1e-9d4a-4b8e-a1f0-2c7d9e8b1a44 failed", "job <uuid> failed"),
        ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 missing", "commit <hex> missing"),
        ("index out of range [5] with length 3", "index out of range [<n>] with length <n>"),
        ("expired at 2024-05-02T10:14:09.512Z (now 2024-05-02 10:15:00)", "expired at <time> (now <time>)"),
        ("no account for jane.doe+test@example.co.uk", "no account for <email>"),
        ("  too   many\n\tspaces  ", "too many spaces"),
        ("connect ECONNREFUSED 127.0.0.1:5432", "connect ECONNREFUSED <n>:<n>"),
        ("'NoneType' object has no attribute 'fetch'", "'NoneType' object has no attribute 'fetch'"),
    ],
)
def test_normalise_message(message: str, expected: str) -> None:
    assert normalise_message(message) == expected


# --- signature ----------------------------------------------------------------------------------------

SIGNED = """\
Traceback (most recent call last):
  File "/srv/{root}/src/api/views.py", line {outer}, in {view}
    return render(order)
  File "/srv/{root}/.venv/lib/python3.11/site-packages/{lib}/core.py", line {lib_line}, in {lib_func}
    return fn(*args)
  File "/srv/{root}/src/api/orders.py", line {inner}, in {function}
    raise {error}(f"order {{order_id}} for {{user}} is locked")
{error}: order {order_id} for <app.models.User object at {address}> is locked
"""
SIGNED_DEFAULTS = {
    "root": "app",
    "outer": "30",
    "view": "order_view",
    "lib": "jinja2",
    "lib_line": "120",
    "lib_func": "call",
    "inner": "88",
    "function": "lock_order",
    "error": "RuntimeError",
    "order_id": "3f2b6c1e-9d4a-4b8e-a1f0-2c7d9e8b1a44",
    "address": "0x7f3a2c1d5e10",
}
REPO_FILES = ["src/api/views.py", "src/api/orders.py", "src/api/__init__.py", "README.md"]


def python_signature(**changes: str) -> str:
    error = parse_error(SIGNED.format(**{**SIGNED_DEFAULTS, **changes}))
    assert error is not None
    return signature(error, repo_path_resolver(REPO_FILES))


def test_signature_is_sixteen_hex_digits() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", python_signature())


def test_signature_ignores_addresses_ids_line_numbers_and_checkout_location() -> None:
    changed = python_signature(
        address="0x55d4c1b2b4a2",
        order_id="0b1c2d3e-4f50-4617-8899-aabbccddeeff",
        outer="31",
        inner="102",
        root="deploy/releases/20240502",
    )

    assert changed == python_signature()


def test_signature_ignores_library_frames() -> None:
    assert python_signature(lib="flask", lib_line="7", lib_func="dispatch") == python_signature()


@pytest.mark.parametrize(
    "change",
    [{"error": "ValueError"}, {"function": "unlock_order"}, {"view": "cart_view"}],
)
def test_signature_changes_with_the_error_type_or_an_in_repo_function(change: dict[str, str]) -> None:
    assert python_signature(**change) != python_signature()


def test_signature_of_javascript_ignores_node_modules() -> None:
    resolver = repo_path_resolver(["src/db.js", "src/index.js", "package.json"])
    error = parse_error(
        "Error: connect ECONNREFUSED 127.0.0.1:5432\n"
        "    at Pool.connect (/app/node_modules/pg-pool/index.js:45:11)\n"
        "    at connectDb (/app/src/db.js:9:20)\n"
        "    at main (/app/src/index.js:3:9)\n"
    )
    upgraded = parse_error(
        "Error: connect ECONNREFUSED 10.0.0.7:6543\n"
        "    at Client._connect (/app/node_modules/pg/lib/client.js:132:11)\n"
        "    at Pool.connect (/app/node_modules/pg-pool/index.js:61:11)\n"
        "    at connectDb (/app/src/db.js:11:20)\n"
        "    at main (/app/src/index.js:3:9)\n"
    )

    assert error is not None and upgraded is not None
    assert signature(error, resolver) == signature(upgraded, resolver)


def test_signature_uses_at_most_three_in_repo_frames() -> None:
    frames = tuple(Frame(f"/app/src/f{i}.py", i, f"f{i}") for i in range(5))
    error = ParsedError("python", "ValueError", "bad", frames, "")
    deeper = ParsedError("python", "ValueError", "bad", (*frames[:3], Frame("/app/src/x.py", 1, "x")), "")
    resolver = repo_path_resolver([f"src/f{i}.py" for i in range(5)] + ["src/x.py"])

    assert signature(error, resolver) == signature(deeper, resolver)


def test_signature_asks_for_java_files_by_package_and_skips_the_jdk() -> None:
    asked: list[str] = []

    def in_repo(path: str) -> str | None:
        asked.append(path)
        return None

    error = parse_error(JAVA_NPE)
    assert error is not None
    signature(error, in_repo)

    assert asked == ["com/acme/util/Strings.java"]


# --- repo_path_resolver -------------------------------------------------------------------------------

FILES = [
    "ops.py",
    "src/calc/ops.py",
    "src/calc/api.py",
    "src/users.js",
    "src/components/Button.jsx",
    "src/config.rs",
    "crates/cli/src/main.rs",
    "internal/server/server.go",
    "src/main/java/com/acme/queue/Worker.java",
    "src/main/java/com/acme/legacy/Worker.java",
    "legacy/Journal.java",
    "requests/api.py",
    "lib/router/index.js",
    "library/std/src/panicking.rs",
    "net/http/server.go",
    "json/decoder.py",
]


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("/srv/app/src/calc/ops.py", "src/calc/ops.py"),  # the longest matching tail wins
        ("/srv/app/other/ops.py", "ops.py"),
        ("/srv/app/lib/api.py", None),  # a repository file must be a whole tail of an absolute path
        ("C:\\Users\\dev\\app\\src\\calc\\api.py", "src/calc/api.py"),
        ("(/app/src/users.js)", "src/users.js"),
        ("file:///app/src/users.js", "src/users.js"),
        ("webpack:///src/components/Button.jsx", "src/components/Button.jsx"),
        ("webpack://shop/./src/components/Button.jsx", "src/components/Button.jsx"),
        ("https://shop.example.com/static/js/main.3f2a1c.js", None),
        ("./src/config.rs", "src/config.rs"),
        ("src/main.rs", "crates/cli/src/main.rs"),  # a relative path may be the tail of a repo file
        ("github.com/acme/app/internal/server/server.go", "internal/server/server.go"),  # go -trimpath
        ("Worker.java", "src/main/java/com/acme/legacy/Worker.java"),  # a tie: alphabetically first
        ("com/acme/queue/Worker.java", "src/main/java/com/acme/queue/Worker.java"),
        ("com/acme/store/Journal.java", "legacy/Journal.java"),  # the name is enough for JVM files
        ("Native Method", None),
        ("<frozen importlib._bootstrap>", None),
        ("node:internal/modules/cjs/loader", None),
        ("", None),
    ],
)
def test_resolver_maps_printed_paths_to_repo_files(printed: str, expected: str | None) -> None:
    assert repo_path_resolver(FILES)(printed) == expected


@pytest.mark.parametrize(
    "printed",
    [
        "/srv/app/.venv/lib/python3.11/site-packages/requests/api.py",
        "/usr/lib/python3/dist-packages/requests/api.py",
        "/app/node_modules/express/lib/router/index.js",
        "webpack:///node_modules/express/lib/router/index.js",
        "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs",
        "/usr/local/go/src/net/http/server.go",
        "/usr/lib/python3.11/json/decoder.py",
        "/usr/local/lib/python3.11/json/decoder.py",
    ],
)
def test_resolver_never_matches_library_paths(printed: str) -> None:
    assert repo_path_resolver(FILES)(printed) is None


def test_resolver_accepts_any_iterable_and_normalises_repo_paths() -> None:
    resolve = repo_path_resolver(iter(["./src/calc/ops.py"]))

    assert resolve("/srv/app/src/calc/ops.py") == "src/calc/ops.py"
