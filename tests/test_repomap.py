"""The repository map lists the right files, finds their definitions and never exceeds its budget."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from autonomous_dev.core.repomap import (
    MAX_FILE_BYTES,
    SymbolCache,
    blob_shas,
    list_files,
    repo_map,
    top_level_symbols,
)
from autonomous_dev.core.symbols import PARSED, extractor_id, regex_symbols
from tests.helpers import commit_all, git

CART_PY = '''"""Shopping cart."""

import dataclasses


class Cart:
    """A cart."""

    def total(self) -> int:
        return 0


async def checkout(cart: Cart) -> None:
    def inner() -> None: ...
'''
APP_TS = """import { api } from "./api";

export default function App() {}
export const fetchUser = async (id: string) => {
  return api.get(id);
};
export class Store {}
const helper = (x: number): number => x * 2;
const LIMIT = 10;
"""
MAIN_GO = """package main

type Server struct {
\taddr string
}

func NewServer(addr string) *Server {
\treturn &Server{addr: addr}
}

func (s *Server) Start() error {
\treturn nil
}
"""
LIB_RS = """pub struct Parser {
    pos: usize,
}

impl Parser {
    pub fn new() -> Self {
        Parser { pos: 0 }
    }
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

pub fn parse(text: &str) -> Parser {
    Parser::new()
}
"""
CART_JAVA = """package shop;

/**
 * A cart.
 */
public class Cart {
    private final List<Item> items = new ArrayList<>();

    public Cart() {
        this.items.clear();
    }

    @Override
    public String toString() {
        return String.valueOf(total());
    }

    int total() {
        return items.size();
    }
}
"""


def write(root: Path, relative: str, content: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small polyglot repository with the clutter real ones have."""
    root = tmp_path / "repo"
    write(root, "README.md", "# shop\n")
    write(root, "src/cart.py", CART_PY)
    write(root, "web/app.ts", APP_TS)
    write(root, "server/main.go", MAIN_GO)
    write(root, "parser/src/lib.rs", LIB_RS)
    write(root, "java/shop/Cart.java", CART_JAVA)
    write(root, "docs/guide.md", "# guide\n")
    write(root, "src/generated/api.py", "def generated() -> None: ...\n")
    write(root, "node_modules/left-pad/index.js", "module.exports = () => {};\n")
    write(root, "web/vendor.min.js", "function a(){}\n")
    write(root, "package-lock.json", "{}\n")
    write(root, "Cargo.lock", "# lock\n")
    write(root, ".git/config", "[core]\n")
    write(root, "src/__pycache__/cart.cpython-311.pyc", "cached")
    write(root, "assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(root, "data/big.csv", "x" * (MAX_FILE_BYTES + 1))
    return root


EXPECTED_FILES = [
    "README.md",
    "docs/guide.md",
    "java/shop/Cart.java",
    "parser/src/lib.rs",
    "server/main.go",
    "src/cart.py",
    "src/generated/api.py",
    "web/app.ts",
]


def test_list_files_skips_default_excludes_binaries_and_large_files(repo: Path) -> None:
    assert list_files(repo) == EXPECTED_FILES


def test_a_file_of_exactly_the_size_limit_is_listed(tmp_path: Path) -> None:
    write(tmp_path, "limit.txt", "x" * MAX_FILE_BYTES)
    write(tmp_path, "over.txt", "x" * (MAX_FILE_BYTES + 1))
    assert list_files(tmp_path) == ["limit.txt"]


def test_a_nul_byte_after_the_sniffed_prefix_does_not_make_a_file_binary(tmp_path: Path) -> None:
    write(tmp_path, "late.txt", b"a" * 8192 + b"\x00")
    write(tmp_path, "early.txt", b"a" * 8191 + b"\x00")
    assert list_files(tmp_path) == ["late.txt"]


@pytest.mark.parametrize(
    ("pattern", "gone"),
    [
        ("docs", ["docs/guide.md"]),
        ("./docs/", ["docs/guide.md"]),
        ("*.md", ["README.md", "docs/guide.md"]),
        ("src/generated/*", ["src/generated/api.py"]),
        ("generated", ["src/generated/api.py"]),
        ("*/src/*.rs", ["parser/src/lib.rs"]),
        ("Cart.java", ["java/shop/Cart.java"]),
    ],
)
def test_exclude_globs_match_the_relative_path_and_each_component(
    repo: Path, pattern: str, gone: list[str]
) -> None:
    assert list_files(repo, [pattern]) == [path for path in EXPECTED_FILES if path not in gone]


def test_excludes_apply_to_directories_at_any_depth(tmp_path: Path) -> None:
    write(tmp_path, "packages/ui/node_modules/react/index.js", "x")
    write(tmp_path, "packages/ui/build/out.js", "x")
    write(tmp_path, "packages/ui/index.js", "x")
    write(tmp_path, "rebuild.py", "x")  # a name that merely contains "build" stays
    assert list_files(tmp_path) == ["packages/ui/index.js", "rebuild.py"]


def test_symlinks_never_lead_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "token\n")
    root = tmp_path / "repo"
    write(root, "src/a.py", "x = 1\n")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.py").symlink_to(root / "src" / "a.py")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    assert list_files(root) == ["alias.py", "src/a.py"]


def test_a_named_pipe_is_skipped_without_blocking(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\n")
    os.mkfifo(tmp_path / "pipe")
    assert list_files(tmp_path) == ["a.py"]


SYMBOL_CASES = [  # valid code: tree-sitter and the regex fallback agree on all of it
    ("src/cart.py", CART_PY, ["class Cart", "async def checkout"]),
    ("web/app.ts", APP_TS, ["function App", "const fetchUser", "class Store", "const helper"]),
    ("server/main.go", MAIN_GO, ["type Server struct", "func NewServer", "func (s *Server) Start"]),
    ("parser/src/lib.rs", LIB_RS, ["struct Parser", "impl Parser", "impl Default for Parser", "fn parse"]),
    ("java/shop/Cart.java", CART_JAVA, ["class Cart", "Cart()", "toString()", "total()"]),
    (
        "lib/shop/cart.rb",
        "module Shop\n  class Cart < Base\n    def total\n    end\n\n"
        "    def self.empty\n    end\n  end\nend\n",
        ["module Shop", "class Cart", "def total", "def self.empty"],
    ),
    (
        "app/Cart.kt",
        "data class Cart(val items: List<Int>) {\n    fun total(): Int = items.sum()\n}\n"
        "fun String.shout() = uppercase()\nobject Registry\n",
        ["class Cart", "fun total", "fun shout", "object Registry"],
    ),
    (
        "pkg/ids.go",
        "package ids\n\ntype ID string\ntype Store interface {\n}\n",
        ["type ID", "type Store interface"],
    ),
    (
        "src/name.rs",
        "impl<T: Into<Vec<u8>>> From<T> for Name {}\nimpl<T> Stack<T> where T: Clone {}\n"
        "impl<F: Fn(u8) -> u8> Apply for F {}\nunsafe impl Send for Name {}\n"
        "macro_rules! square { ($x:expr) => { $x * $x }; }\n",
        [
            "impl From<T> for Name",
            "impl Stack<T>",
            "impl Apply for F",
            "impl Send for Name",
            "macro_rules! square",
        ],
    ),
    ("include/cart.h", "int cart_total(struct cart *c);\n", []),
    ("README.md", "# class Cart\ndef total\n", []),
]

# Definitions hidden in strings, nested definitions and multi-line constructs: where regexes go wrong.
TREE_SITTER_CASES = [
    (
        "tool.py",
        'HELP = """\ndef fake():\nclass Fake:\n"""\n\n\ndef real():\n    def inner(): ...\n\n\n'
        "@dataclass\nclass Point:\n    def norm(self): ...\n\n\nif TYPE_CHECKING:\n    def hidden(): ...\n",
        ["def real", "class Point"],
    ),
    (
        "web/page.ts",
        "const TEMPLATE = `\nfunction fake() {}\n`;\nexport const a = 1, b = () => 2;\n"
        "declare function lookup(id: string): void;\nfunction over(x: string): void;\n"
        "function over(x: unknown) {}\nexport default function Page() {\n  function inner() {}\n}\n"
        "const handler = (\n  event: Event,\n) => event;\nlet counter = 0;\n",
        ["const a", "const b", "function lookup", "function over", "function Page", "const handler"],
    ),
    (
        "web/App.tsx",
        'export const App = () => <div className="app">{title}</div>;\n'
        "function Row<T,>(props: T) {\n  return <li />;\n}\n",
        ["const App", "function Row"],
    ),
    (
        "server/types.go",
        "package server\n\ntype (\n\tID int\n\tConfig struct{}\n)\n\ntype List[T any] interface{}\n"
        "var usage = `\nfunc Fake() {}\n`\n\nfunc (s  *Server)  Stop() {}\n",
        ["type ID", "type Config struct", "type List interface", "func (s *Server) Stop"],
    ),
    (
        "src/help.rs",
        'const USAGE: &str = "\nfn fake() {}\n";\n#[cfg(test)]\nmod tests {\nfn helper() {}\n}\n'
        "pub(crate) const unsafe fn raw() {}\nimpl !Sync for Name {}\n",
        ["mod tests", "fn raw", "impl !Sync for Name"],
    ),
    (
        "java/shop/Kinds.java",
        "enum Color {\n    RED;\n    void paint() {}\n}\n@interface Tag {\n    String value();\n}\n"
        'record Point(int x) {\n    static final String HELP = """\n    void fake() {\n    """;\n'
        "    static Point origin() { return new Point(0); }\n    class Nested {\n        void deep() {}\n"
        "    }\n}\n",
        ["enum Color", "paint()", "@interface Tag", "value()", "record Point", "origin()", "class Nested"],
    ),
    (
        "lib/tool.rb",
        "module Shop::Api\n  HELP = <<~TEXT\n    def fake\n  TEXT\n  class << self\n    def build; end\n"
        "  end\n  def run\n    define_method(:x) { }\n  end\nend\n",
        ["module Shop::Api", "def build", "def run"],
    ),
]

# Unfinished lines: the fallback's bracket matching (tree-sitter recovers differently from such input).
REGEX_FRAGMENTS = [
    (
        "src/name.rs",
        "impl<T: Into<Vec<u8>>> From<T> for Name {\nimpl<T> Stack<T> where T: Clone {\n"
        "impl<F: Fn(u8) -> u8> Apply for F {}\nunsafe impl Send for Name {}\nmacro_rules! square {\n",
        [
            "impl From<T> for Name",
            "impl Stack<T>",
            "impl Apply for F",
            "impl Send for Name",
            "macro_rules! square",
        ],
    ),
]


@pytest.mark.parametrize(("path", "text", "expected"), SYMBOL_CASES + TREE_SITTER_CASES)
def test_top_level_symbols_per_language(path: str, text: str, expected: list[str]) -> None:
    assert top_level_symbols(path, text) == expected


@pytest.mark.parametrize(("path", "text", "expected"), SYMBOL_CASES + REGEX_FRAGMENTS)
def test_the_regex_fallback_per_language(path: str, text: str, expected: list[str]) -> None:
    assert regex_symbols(path, text) == expected


@pytest.mark.parametrize("suffix", sorted(PARSED))
def test_every_parsed_language_has_its_grammar_installed(suffix: str) -> None:
    extractor = extractor_id(f"file{suffix}")
    assert extractor is not None
    assert extractor.startswith(f"v1 {PARSED[suffix].name} tree-sitter==")


def test_extractor_ids_name_the_fallback_and_nothing_for_unknown_languages() -> None:
    assert extractor_id("app/Cart.kt") == "v1 regex .kt"
    assert extractor_id("README.md") is None


def test_a_file_with_a_syntax_error_keeps_the_definitions_around_it() -> None:
    text = "def before(): ...\n\n\ndef broken(:\n    pass\n\n\nclass After: ...\n"
    assert top_level_symbols("m.py", text) == ["def before", "def broken", "class After"]


def test_python_symbols_are_column_zero_only_and_reported_once() -> None:
    text = (
        "from typing import overload\n\n@overload\ndef f(x: int) -> int: ...\n@overload\n"
        "def f(x: str) -> str: ...\nclass A:\n    class B:\n        pass\n"
        '"""\nclass of problems this module solves\n"""\n'
    )
    assert top_level_symbols("m.py", text) == ["def f", "class A"]


def test_repo_map_lists_every_file_with_its_symbols(repo: Path) -> None:
    assert repo_map(repo, exclude=["docs", "src/generated/*"]) == "\n".join(
        [
            "README.md",
            "java/shop/Cart.java",
            "  class Cart",
            "  Cart()",
            "  toString()",
            "  total()",
            "parser/src/lib.rs",
            "  struct Parser",
            "  impl Parser",
            "  impl Default for Parser",
            "  fn parse",
            "server/main.go",
            "  type Server struct",
            "  func NewServer",
            "  func (s *Server) Start",
            "src/cart.py",
            "  class Cart",
            "  async def checkout",
            "web/app.ts",
            "  function App",
            "  const fetchUser",
            "  class Store",
            "  const helper",
        ]
    )


def small_repo(root: Path) -> Path:
    write(root, "a.py", "def one(): ...\n")  # 10 characters of symbols, each with its "\n  "
    write(root, "b.py", "".join(f"def function_{n}(): ...\n" for n in range(5)))  # 85
    write(root, "c.py", "def two(): ...\ndef three(): ...\n")  # 22
    return root


def test_repo_map_drops_the_symbols_of_the_largest_file_first(tmp_path: Path) -> None:
    root = small_repo(tmp_path)
    full = repo_map(root)
    without_b = "a.py\n  def one\nb.py\nc.py\n  def two\n  def three"
    assert len(without_b) < len(full)
    assert repo_map(root, max_chars=len(without_b)) == without_b
    assert repo_map(root, max_chars=len(without_b) - 1) == "a.py\n  def one\nb.py\nc.py"
    assert repo_map(root, max_chars=len("a.py\nb.py\nc.py")) == "a.py\nb.py\nc.py"


def test_repo_map_cuts_the_path_list_with_a_count_of_what_is_missing(tmp_path: Path) -> None:
    names = ["services/billing/invoice.py", "services/billing/refunds.py", "services/shipping/labels.py"]
    for name in names:
        write(tmp_path, name, "def handle(): ...\n")
    paths_only = "\n".join(names)
    assert repo_map(tmp_path, max_chars=len(paths_only)) == paths_only
    two = f"{names[0]}\n{names[1]}\n... (1 more files)"
    assert repo_map(tmp_path, max_chars=len(paths_only) - 1) == two
    assert repo_map(tmp_path, max_chars=len(two)) == two
    assert repo_map(tmp_path, max_chars=len(two) - 1) == f"{names[0]}\n... (2 more files)"
    assert repo_map(tmp_path, max_chars=len("... (3 more files)")) == "... (3 more files)"
    assert repo_map(tmp_path, max_chars=len("... (3 more files)") - 1) == ""
    assert repo_map(tmp_path, max_chars=0) == ""


def test_repo_map_never_exceeds_its_budget_and_counts_every_file(repo: Path) -> None:
    for number in range(6):
        write(
            repo,
            f"pkg/module_{number:02d}.py",
            f"class Model{number}:\n    pass\n\n\ndef build_{number}(): ...\n",
        )
    files = list_files(repo)
    full = repo_map(repo)
    for budget in range(len(full) + 1):
        text = repo_map(repo, max_chars=budget)
        assert len(text) <= budget
        more = re.search(r"\n?\.\.\. \((\d+) more files\)$", text)
        if more is not None:
            listed = text[: more.start()].splitlines()
            assert listed == files[: len(listed)]
            assert len(listed) + int(more.group(1)) == len(files)
        elif text:
            assert [line for line in text.splitlines() if not line.startswith("  ")] == files


def test_repo_map_of_an_empty_repository_is_empty(tmp_path: Path) -> None:
    assert repo_map(tmp_path) == ""


def tracked_blobs(root: Path) -> dict[str, str]:
    """Path -> blob sha of the files in git's index, as `git ls-files -s` prints them."""
    blobs: dict[str, str] = {}
    for line in git(root, "ls-files", "-s").splitlines():
        meta, path = line.split("\t", 1)
        blobs[path] = meta.split()[1]
    return blobs


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[SymbolCache]:
    with SymbolCache(tmp_path / "work" / "symbols.db") as opened:
        yield opened


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "README.md", "# shop\n")  # no extractor: neither parsed nor cached
    write(root, "src/cart.py", CART_PY)
    write(root, "web/app.ts", APP_TS)
    write(root, "server/main.go", MAIN_GO)
    return commit_all(root)


def test_the_cache_is_reused_for_unchanged_blobs_and_refreshed_for_changed_ones(
    git_repo: Path, cache: SymbolCache
) -> None:
    first = repo_map(git_repo, blobs=tracked_blobs(git_repo), cache=cache)
    assert first == repo_map(git_repo)
    assert (cache.hits, cache.misses) == (0, 3)

    assert repo_map(git_repo, blobs=tracked_blobs(git_repo), cache=cache) == first
    assert (cache.hits, cache.misses) == (3, 3)

    write(git_repo, "src/cart.py", CART_PY + "\n\ndef refund(cart: Cart) -> None: ...\n")
    git(git_repo, "commit", "-qam", "Refunds")
    third = repo_map(git_repo, blobs=tracked_blobs(git_repo), cache=cache)
    assert (cache.hits, cache.misses) == (5, 4)
    assert "src/cart.py\n  class Cart\n  async def checkout\n  def refund\n" in third


def test_a_warm_map_takes_symbols_from_the_cache_without_parsing_the_files(
    git_repo: Path, cache: SymbolCache
) -> None:
    blobs = tracked_blobs(git_repo)
    first = repo_map(git_repo, blobs=blobs, cache=cache)
    for path in ("src/cart.py", "web/app.ts", "server/main.go"):  # blobs now lie about every file
        write(git_repo, path, "\n")
    assert repo_map(git_repo, blobs=blobs, cache=cache) == first
    assert cache.misses == 3


def test_the_cache_survives_reopening_its_file(git_repo: Path, tmp_path: Path) -> None:
    blobs = tracked_blobs(git_repo)
    with SymbolCache(tmp_path / "symbols.db") as cache:
        first = repo_map(git_repo, blobs=blobs, cache=cache)
    with SymbolCache(tmp_path / "symbols.db") as cache:
        assert repo_map(git_repo, blobs=blobs, cache=cache) == first
        assert (cache.hits, cache.misses) == (3, 0)
    mode = sqlite3.connect(tmp_path / "symbols.db").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_untracked_files_are_parsed_but_not_cached(git_repo: Path, cache: SymbolCache) -> None:
    write(git_repo, "scratch.py", "def draft(): ...\n")
    for _ in range(2):
        assert "scratch.py\n  def draft" in repo_map(git_repo, blobs=tracked_blobs(git_repo), cache=cache)
    assert (cache.hits, cache.misses) == (3, 3)


def test_copies_of_one_blob_all_get_their_symbols(tmp_path: Path, cache: SymbolCache) -> None:
    root = tmp_path / "repo"
    write(root, "a/models.py", "class Model: ...\n")
    write(root, "b/models.py", "class Model: ...\n")
    expected = "a/models.py\n  class Model\nb/models.py\n  class Model"
    assert repo_map(root, blobs=blob_shas(root), cache=cache) == expected
    assert repo_map(root, blobs=blob_shas(root), cache=cache) == expected
    assert (cache.hits, cache.misses) == (2, 2)


def test_files_without_definitions_are_cached_too(tmp_path: Path, cache: SymbolCache) -> None:
    root = tmp_path / "repo"
    write(root, "pkg/__init__.py", "")
    write(root, "pkg/constants.py", "LIMIT = 10\n")
    for _ in range(2):
        assert repo_map(root, blobs=blob_shas(root), cache=cache) == "pkg/__init__.py\npkg/constants.py"
    assert (cache.hits, cache.misses) == (2, 2)


def test_entries_are_keyed_by_blob_and_extractor(cache: SymbolCache) -> None:
    cache.store({("b1", "v1 python"): ["def one"], ("b1", "v1 regex .kt"): ["fun one"]})
    assert cache.lookup([("b1", "v1 python"), ("b1", "v2 python"), ("b2", "v1 python")]) == {
        ("b1", "v1 python"): ["def one"]
    }
    assert (cache.hits, cache.misses) == (1, 2)


def test_blob_shas_match_git_for_committed_files_and_follow_edits(git_repo: Path) -> None:
    assert blob_shas(git_repo) == tracked_blobs(git_repo)
    write(git_repo, "web/app.ts", APP_TS + "export function logout() {}\n")
    edited = blob_shas(git_repo, exclude=["*.md"])
    assert edited["web/app.ts"] == git(git_repo, "hash-object", "web/app.ts").strip()
    assert "README.md" not in edited


def test_threads_can_share_one_cache(git_repo: Path, cache: SymbolCache) -> None:
    blobs = tracked_blobs(git_repo)
    maps: list[str] = []
    threads = [
        threading.Thread(target=lambda: maps.append(repo_map(git_repo, blobs=blobs, cache=cache)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert maps == [repo_map(git_repo)] * 8
    assert cache.hits + cache.misses == 24


WRITER = """
import sys
from pathlib import Path
from autonomous_dev.core.repomap import SymbolCache

name = sys.argv[2]
with SymbolCache(Path(sys.argv[1])) as cache:
    for number in range(50):
        cache.store({(f"{name}-{number}", "v1 python"): [f"def f{number}"]})
        assert cache.lookup([(f"{name}-{number}", "v1 python")])
"""


def test_processes_can_write_one_cache_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "symbols.db"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{index}"]) for index in range(4)]
    assert [writer.wait(timeout=60) for writer in writers] == [0] * 4
    keys = [(f"p{index}-{number}", "v1 python") for index in range(4) for number in range(50)]
    with SymbolCache(path) as cache:
        assert len(cache.lookup(keys)) == 200


WITHOUT_GO_GRAMMAR = """
import sys
sys.modules["tree_sitter_go"] = None  # as if tree-sitter-go were not installed
from autonomous_dev.core.symbols import extractor_id, top_level_symbols
print(extractor_id("server/types.go"))
print(top_level_symbols("server/types.go", sys.stdin.read()))
"""


def test_a_missing_grammar_falls_back_to_the_regexes_under_another_cache_key() -> None:
    _, text, _ = next(case for case in TREE_SITTER_CASES if case[0] == "server/types.go")
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_GO_GRAMMAR], input=text, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["v1 regex .go", str(regex_symbols("server/types.go", text))]


def test_the_cli_starts_without_importing_tree_sitter() -> None:
    code = "import sys, autonomous_dev.cli; print(sorted(m for m in sys.modules if 'tree_sitter' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
