"""Tool schemas the API does not define for us, and the check of a tool call's input against its tool's
JSON schema: a malformed call is an answer, not a crash."""

from __future__ import annotations

from collections.abc import Mapping

from autonomous_dev.errors import ToolError

# The input schema of Anthropic's text editor tool (text_editor_20250728): the API defines the tool, so
# its schema is not in the definition we send; this is what the model is told it may send.
EDITOR_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert"]},
        "path": {"type": "string"},
        "file_text": {"type": "string"},
        "old_str": {"type": "string"},
        "new_str": {"type": "string"},
        "insert_line": {"type": "integer"},
        "insert_text": {"type": "string"},
        "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    },
    "required": ["command", "path"],
}

COMMAND_NAME = "run_command"
MAX_COMMAND_CHARS = 10_000
COMMAND_TOOL: dict[str, object] = {
    "name": COMMAND_NAME,
    "description": (
        "Run a shell command (sh -c) in the repository's root and return its exit code and the tail of its "
        "output. It runs in a sandbox: no network, nothing writable outside the repository, the project's "
        "prepared environment on PATH, the task's time limit. Use it to explore (ls, grep, find), run a "
        "script or one test, or check a build. Files it changes in the repository are part of your change."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_COMMAND_CHARS,
                "description": "The command line, e.g. `grep -rn 'def parse' src`.",
            },
        },
        "required": ["command"],
        "additionalProperties": False,
    },
}

TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}
MAX_DEPTH = 20


def checked(schema: Mapping[str, object], value: object) -> dict[str, object]:
    """The input without null optional properties (models send those for "absent"), or ToolError.

    Supports the JSON schema keywords our tools use: type, properties, required, additionalProperties,
    enum, items, minItems, maxItems, minLength, maxLength, minimum, maximum, anyOf.
    """
    if not isinstance(value, dict):
        raise ToolError(f"the input must be a JSON object, not {_kind(value)}")
    required = _strings(schema.get("required"))
    cleaned = {key: item for key, item in value.items() if item is not None or key in required}
    _check(schema, cleaned, "input", 0)
    return cleaned


def _check(schema: Mapping[str, object], value: object, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ToolError(f"{where} is nested too deeply")
    options = schema.get("anyOf")
    if isinstance(options, list):
        _any_of(options, value, where, depth)
    wanted = schema.get("type")
    if isinstance(wanted, str) and not _is(value, wanted):
        raise ToolError(f"{where} must be {_article(wanted)}, not {_kind(value)}")
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        raise ToolError(f"{where} must be one of {', '.join(map(repr, enum))}, not {value!r:.80}")
    if isinstance(value, str):
        _check_string(schema, value, where)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int | float):
        _bounds(schema, value, value, where, "minimum", "maximum", "")
    elif isinstance(value, list):
        _check_array(schema, value, where, depth)
    elif isinstance(value, dict):
        _check_object(schema, value, where, depth)


def _any_of(options: list[object], value: object, where: str, depth: int) -> None:
    problems = []
    for option in options:
        try:
            _check(option if isinstance(option, dict) else {}, value, where, depth + 1)
            return
        except ToolError as exc:
            problems.append(exc.message)
    raise ToolError(" or ".join(problems) or f"{where} matches none of its allowed forms")


def _check_string(schema: Mapping[str, object], value: str, where: str) -> None:
    _bounds(schema, len(value), value, where, "minLength", "maxLength", " characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError(f"{where} is not valid Unicode (it holds an unpaired surrogate)") from None


def _check_array(schema: Mapping[str, object], value: list[object], where: str, depth: int) -> None:
    _bounds(schema, len(value), value, where, "minItems", "maxItems", " items")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _check(items, item, f"{where}[{index}]", depth + 1)


def _check_object(schema: Mapping[str, object], value: dict[object, object], where: str, depth: int) -> None:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    missing = [name for name in _strings(schema.get("required")) if name not in value]
    if missing:
        raise ToolError(f"{where} lacks the required {', '.join(missing)}")
    if schema.get("additionalProperties") is False:
        unknown = [str(key) for key in value if key not in properties]
        if unknown:
            raise ToolError(f"{where} has unknown properties: {', '.join(unknown)[:200]}")
    for key, item in value.items():
        sub = properties.get(key)
        if isinstance(sub, dict):
            _check(sub, item, f"`{key}`" if where == "input" else f"{where}.{key}", depth + 1)


def _bounds(
    schema: Mapping[str, object], size: float, value: object, where: str, low: str, high: str, unit: str
) -> None:
    least, most = schema.get(low), schema.get(high)
    if isinstance(least, int | float) and size < least:
        raise ToolError(f"{where} must be at least {least}{unit}, not {_short(value, unit, size)}")
    if isinstance(most, int | float) and size > most:
        raise ToolError(f"{where} must be at most {most}{unit}, not {_short(value, unit, size)}")


def _is(value: object, wanted: str) -> bool:
    if wanted in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, TYPES.get(wanted, (object,)))


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return "null" if value is None else names.get(type(value), "an object")


def _article(wanted: str) -> str:
    return "an array" if wanted == "array" else ("an " if wanted in ("integer", "object") else "a ") + wanted


def _short(value: object, unit: str, size: float) -> str:
    return f"{size:g}{unit}" if unit else repr(value)
