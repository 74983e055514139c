"""The regex fallback of the symbol extractor: per language, the lines that start a top-level definition
(at column 0) and a class member (one indent level in), and the template that names it."""

from __future__ import annotations

import re
from dataclasses import dataclass

Rule = tuple[re.Pattern[str], str]


@dataclass(frozen=True)
class Language:
    """Rules for lines at column 0, and for lines exactly one indent level in (class members)."""

    top: tuple[Rule, ...]
    members: tuple[Rule, ...] = ()


def _rules(*pairs: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple((re.compile(pattern), template) for pattern, template in pairs)


_JS_EXPORT = r"(?:export\s+(?:default\s+)?)?(?:declare\s+)?"
_RUST_VIS = r"(?:pub(?:\([^)]*\))?\s+)?"
_RUST_ANGLE_FREE = r"(?:->|[^<>])"  # "->" of an Fn bound does not close a bracket
_RUST_GENERICS = (  # up to three levels deep: impl<T: Into<Vec<u8>>>
    rf"(?:<(?:{_RUST_ANGLE_FREE}|<(?:{_RUST_ANGLE_FREE}|<{_RUST_ANGLE_FREE}*>)*>)*>)?"
)
_JAVA_MODS = r"(?:(?:public|protected|private|static|final|abstract|sealed|non-sealed|strictfp)\s+)*"
_JAVA_METHOD_MODS = r"(?:public|protected|private|static|final|abstract|synchronized|native|default|strictfp)"
_JAVA_TYPE = _rules((_JAVA_MODS + r"(class|interface|enum|record|@interface)\s+(\w+)", r"\1 \2"))
_KOTLIN_DECL = _rules(
    (
        r"(?:(?:public|private|internal|protected|open|abstract|sealed|data|enum|inner|annotation|value"
        r"|final|override|suspend|inline|operator|infix|tailrec|external)\s+)*"
        r"(class|interface|object|fun)\s+(?:<[^>]*>\s*)?(?:[\w.]+(?:<[^>]*>)?\.)?(\w+)",
        r"\1 \2",
    )
)

PYTHON = Language(
    _rules((r"(async\s+def|def)\s+(\w+)\s*[(\[]", r"\1 \2"), (r"class\s+(\w+)\s*[:(\[]", r"class \1"))
)
JAVASCRIPT = Language(
    _rules(
        (_JS_EXPORT + r"(?:async\s+)?function\s*\*?\s*([\w$]+)", r"function \1"),
        (_JS_EXPORT + r"(?:abstract\s+)?class\s+([\w$]+)", r"class \1"),
        (r"(?:export\s+)?(?:declare\s+)?(interface|enum|type)\s+([\w$]+)", r"\1 \2"),
        (r"export\s+(const|let|var)\s+([\w$]+)", r"\1 \2"),
        (
            r"(const|let|var)\s+([\w$]+)\s*(?::[^=]*)?=\s*(?:async\s+)?"
            r"(?:function\b|\([^)]*\)\s*(?::[^=]*)?=>|[\w$]+\s*=>|\(\s*$)",
            r"\1 \2",
        ),
    )
)
GO = Language(
    _rules(
        (r"func\s+\(([^)]*)\)\s*(\w+)", r"func (\1) \2"),
        (r"func\s+(\w+)", r"func \1"),
        (r"type\s+(\w+)(?:\[[^\]]*\])?\s+(struct|interface)\b", r"type \1 \2"),
        (r"type\s+(\w+)", r"type \1"),
    )
)
RUST = Language(
    _rules(
        (_RUST_VIS + r'(?:(?:const|async|unsafe|extern(?:\s+"[^"]*")?)\s+)*fn\s+(\w+)', r"fn \1"),
        (_RUST_VIS + r"(?:unsafe\s+)?(struct|enum|trait|union|mod|type)\s+(\w+)", r"\1 \2"),
        (r"(?:unsafe\s+)?impl" + _RUST_GENERICS + r"\s+((?:(?!\bwhere\b)[^{])*)", r"impl \1"),
        (r"macro_rules!\s*(\w+)", r"macro_rules! \1"),
    )
)
JAVA = Language(
    _JAVA_TYPE,
    _JAVA_TYPE
    + _rules(
        (
            r"(?!(?:return|new|throw|else|case|yield)\b)(?:" + _JAVA_METHOD_MODS + r"\s+)*(?:<[^>]*>\s+)?"
            r"[\w.$]+(?:<.*?>)?(?:\[\])*\s+(\w+)\s*\(",
            r"\1()",
        ),
        (r"(?:" + _JAVA_METHOD_MODS + r"\s+)+(\w+)\s*\(", r"\1()"),
    ),
)
KOTLIN = Language(_KOTLIN_DECL, _KOTLIN_DECL)
RUBY = Language(_rules((r"\s*(class|module)\s+([A-Z][\w:]*)", r"\1 \2"), (r"\s*def\s+([^\s(;]+)", r"def \1")))

LANGUAGES: dict[str, Language] = {
    **dict.fromkeys((".py", ".pyi"), PYTHON),
    **dict.fromkeys((".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"), JAVASCRIPT),
    ".go": GO,
    ".rs": RUST,
    ".java": JAVA,
    **dict.fromkeys((".kt", ".kts"), KOTLIN),
    **dict.fromkeys((".rb", ".rake"), RUBY),
}
