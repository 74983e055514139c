"""Top-level definitions of a source file: tree-sitter where its grammar is installed, regexes otherwise."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING

from autonomous_dev.core.symbol_rules import LANGUAGES, Rule

if TYPE_CHECKING:  # tree-sitter is imported when the first file is parsed: CLI start-up stays fast
    from tree_sitter import Language as Grammar
    from tree_sitter import Node

log = logging.getLogger(__name__)

# Part of every cache key: bump it whenever the labels produced for the same text change.
EXTRACTOR_VERSION = 1
TAB_WIDTH = 4
MAX_LINE_CHARS = 500  # definitions start early in a line; longer lines are minified code or data


def top_level_symbols(path: str, text: str) -> list[str]:
    """Short labels ("class Cart", "def total", "func (s *Server) Start") for the file's definitions.

    The language comes from the extension. Python, JS/TS, Go, Rust, Java and Ruby are parsed with
    tree-sitter when their grammar is installed, and otherwise, like Kotlin, read by `regex_symbols`;
    other languages (C and C++ included) give no symbols. Repeats are reported once.
    """
    language = PARSED.get(_suffix(path))
    grammar = _grammar(language) if language is not None else None
    if language is None or grammar is None:
        return regex_symbols(path, text)
    import tree_sitter

    tree = tree_sitter.Parser(grammar).parse(text.encode("utf-8", errors="replace"))
    return list(dict.fromkeys(label for label in language.labels(tree.root_node) if label))


def extractor_id(path: str) -> str | None:
    """What turns this file's text into symbols, for cache keys; None when nothing does (no symbols).

    `v{EXTRACTOR_VERSION}` plus the language and the versions of tree-sitter and the grammar, or
    `regex` and the extension, so a code change, an upgrade or a missing grammar never reuses old labels.
    """
    suffix = _suffix(path)
    language = PARSED.get(suffix)
    if language is not None and _grammar(language) is not None:
        grammar = language.module.replace("_", "-")
        versions = f"tree-sitter=={_version('tree-sitter')} {grammar}=={_version(grammar)}"
        return f"v{EXTRACTOR_VERSION} {language.name} {versions}"
    if suffix in LANGUAGES:
        return f"v{EXTRACTOR_VERSION} regex {suffix}"
    return None


def regex_symbols(path: str, text: str) -> list[str]:
    """The line-based fallback: labels from regexes, for languages without an installed grammar.

    Python, JS/TS, Go and Rust report column-0 definitions only; Java and Kotlin also report members
    one indent level in; Ruby reports class, module and def at any depth. Repeats are reported once.
    """
    language = LANGUAGES.get(_suffix(path))
    if language is None:
        return []
    lines = text.splitlines()
    unit = _indent_unit(lines) if language.members else None
    labels: dict[str, None] = {}
    for line in (line[:MAX_LINE_CHARS] for line in lines):
        label = _match(language.top, line)
        if label is None and unit is not None and _indent(line) == unit:
            label = _match(language.members, line.strip())
        if label is not None:
            labels.setdefault(label)
    return list(labels)


def _match(rules: Sequence[Rule], line: str) -> str | None:
    for pattern, template in rules:
        found = pattern.match(line)
        if found is not None:
            return " ".join(found.expand(template).split())
    return None


def _indent(line: str) -> int:
    expanded = line.expandtabs(TAB_WIDTH)
    return len(expanded) - len(expanded.lstrip())


def _indent_unit(lines: Sequence[str]) -> int | None:
    """The smallest indentation in use, ignoring blank lines and the `*` lines of block comments."""
    widths = [_indent(line) for line in lines if line.strip() and not line.lstrip().startswith("*")]
    return min((width for width in widths if width > 0), default=None)


@dataclass(frozen=True)
class TreeSitterLanguage:
    """Where a tree-sitter grammar lives (module and function of its wheel) and how to label its tree."""

    name: str
    module: str
    function: str
    labels: Callable[[Node], Iterator[str]]


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


@cache
def _grammar(language: TreeSitterLanguage) -> Grammar | None:
    try:
        import tree_sitter

        module = importlib.import_module(language.module)
        return tree_sitter.Language(getattr(module, language.function)())
    except (ImportError, ValueError) as exc:  # ValueError: a grammar built for another tree-sitter ABI
        log.warning("no tree-sitter grammar for %s (%s); reading it with regexes", language.name, exc)
        return None


@cache
def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return " ".join(node.text.decode("utf-8", errors="replace").split())


def _field(node: Node, name: str) -> str:
    return _text(node.child_by_field_name(name))


def _label(prefix: str, name: str) -> str:
    return f"{prefix} {name}" if name else ""


def _named(node: Node, prefixes: dict[str, str]) -> str:
    """`{prefix} {name}` when the node's type has a prefix and the node a name, else ""."""
    prefix = prefixes.get(node.type)
    return _label(prefix, _field(node, "name")) if prefix else ""


def _top(node: Node) -> Iterator[Node]:
    """The node's named children, looking inside the ERROR nodes that error recovery leaves."""
    for child in node.named_children:
        if child.type == "ERROR":
            yield from _top(child)
        else:
            yield child


_PYTHON = {"class_definition": "class", "function_definition": "def"}


def _python(root: Node) -> Iterator[str]:
    for node in _top(root):
        definition = node.child_by_field_name("definition") if node.type == "decorated_definition" else node
        if definition is not None:
            label = _named(definition, _PYTHON)
            yield f"async {label}" if label and definition.children[0].type == "async" else label


_SCRIPT = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "function_signature": "function",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "enum_declaration": "enum",
    "type_alias_declaration": "type",
}
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "generator_function", "class"})


def _script(root: Node) -> Iterator[str]:
    for node in _top(root):
        yield from _script_declaration(node, exported=False)


def _script_declaration(node: Node, exported: bool) -> Iterator[str]:
    if node.type == "export_statement":
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            yield from _script_declaration(declaration, exported=True)
    elif node.type == "ambient_declaration":
        for child in node.named_children:
            yield from _script_declaration(child, exported)
    elif node.type in ("lexical_declaration", "variable_declaration"):
        yield from _variables(node, exported)
    else:
        yield _named(node, _SCRIPT)


def _variables(node: Node, exported: bool) -> Iterator[str]:
    """Exported variables, and the others whose value is a function (or class) expression."""
    kind = node.children[0].type  # const, let or var
    for declarator in node.named_children:
        name = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        function = value is not None and value.type in _FUNCTION_VALUES
        if name is not None and name.type == "identifier" and (exported or function):
            yield _label(kind, _text(name))


_GO_KINDS = {"struct_type": "struct", "interface_type": "interface"}


def _go(root: Node) -> Iterator[str]:
    for node in _top(root):
        if node.type == "function_declaration":
            yield _label("func", _field(node, "name"))
        elif node.type == "method_declaration":
            yield _label(f"func {_field(node, 'receiver')}", _field(node, "name"))
        elif node.type == "type_declaration":
            yield from (_go_type(spec) for spec in node.named_children)


def _go_type(spec: Node) -> str:
    """`type ID`, or `type Server struct` / `type Store interface` for those kinds of type."""
    label = _named(spec, {"type_spec": "type", "type_alias": "type"})
    kind = spec.child_by_field_name("type")
    if label and spec.type == "type_spec" and kind is not None and kind.type in _GO_KINDS:
        return f"{label} {_GO_KINDS[kind.type]}"
    return label


_RUST = {f"{kind}_item": kind for kind in ("struct", "enum", "trait", "union", "mod", "type")} | {
    "function_item": "fn",
    "macro_definition": "macro_rules!",
}


def _rust(root: Node) -> Iterator[str]:
    for node in _top(root):
        yield _rust_impl(node) if node.type == "impl_item" else _named(node, _RUST)


def _rust_impl(node: Node) -> str:
    """`impl Parser` or `impl Default for Parser`, without the impl's own generic parameters."""
    target = _field(node, "type")
    trait = node.child_by_field_name("trait")
    if trait is None or not target:
        return _label("impl", target)
    negative = "!" if any(child.type == "!" for child in node.children) else ""
    return f"impl {negative}{_text(trait)} for {target}"


_JAVA_TYPES = {f"{kind}_declaration": kind for kind in ("class", "interface", "enum", "record")} | {
    "annotation_type_declaration": "@interface"
}
_JAVA_METHODS = frozenset(
    {"method_declaration", "constructor_declaration", "annotation_type_element_declaration"}
)


def _java(root: Node) -> Iterator[str]:
    """Top-level types, and the methods, constructors and types declared directly inside them."""
    for node in _top(root):
        label = _named(node, _JAVA_TYPES)
        body = node.child_by_field_name("body")
        if label and body is not None:
            yield label
            yield from _java_members(body)


def _java_members(body: Node) -> Iterator[str]:
    for member in _top(body):
        if member.type == "enum_body_declarations":  # an enum's members follow its constants
            yield from _java_members(member)
        elif member.type in _JAVA_METHODS:
            name = _field(member, "name")
            yield f"{name}()" if name else ""
        else:
            yield _named(member, _JAVA_TYPES)


_RUBY = {"class": "class", "module": "module", "method": "def"}


def _ruby(node: Node) -> Iterator[str]:
    """Classes, modules and methods, and those nested in classes and modules (not inside methods)."""
    for child in _top(node):
        if child.type == "singleton_method":
            yield _label("def", f"{_field(child, 'object')}.{_field(child, 'name')}")
        else:
            yield _named(child, _RUBY)
        body = child.child_by_field_name("body")
        if child.type in ("class", "module", "singleton_class") and body is not None:
            yield from _ruby(body)


_PY = TreeSitterLanguage("python", "tree_sitter_python", "language", _python)
_JS = TreeSitterLanguage("javascript", "tree_sitter_javascript", "language", _script)
_TS = TreeSitterLanguage("typescript", "tree_sitter_typescript", "language_typescript", _script)
_TSX = TreeSitterLanguage("tsx", "tree_sitter_typescript", "language_tsx", _script)
PARSED: dict[str, TreeSitterLanguage] = {
    **dict.fromkeys((".py", ".pyi"), _PY),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs"), _JS),
    **dict.fromkeys((".ts", ".mts", ".cts"), _TS),
    ".tsx": _TSX,
    ".go": TreeSitterLanguage("go", "tree_sitter_go", "language", _go),
    ".rs": TreeSitterLanguage("rust", "tree_sitter_rust", "language", _rust),
    ".java": TreeSitterLanguage("java", "tree_sitter_java", "language", _java),
    **dict.fromkeys((".rb", ".rake"), TreeSitterLanguage("ruby", "tree_sitter_ruby", "language", _ruby)),
}
