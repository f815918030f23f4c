"""The official Bot API description (api.json), digested once at import.

The fake must refuse what Telegram refuses and return what Telegram returns, so both the
parameter table used to validate requests and the checker for returned objects come from the
same machine-readable spec rather than from hand-written lists.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The spec lives in ../shared beside the repository (as in CI); TELEGRAM_BOT_API_JSON overrides.
_REPO = Path(__file__).resolve().parents[2]
API_JSON = Path(
    os.environ.get("TELEGRAM_BOT_API_JSON", str(_REPO.parent / "shared" / "telegram-bot-api" / "api.json"))
)


class ApiError(Exception):
    """A Bot API refusal: becomes `{"ok": false, "error_code", "description"}`."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def bad_request(text: str) -> ApiError:
    """400 with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {text}")


class Kind(enum.Enum):
    """How a request parameter is decoded from form / multipart strings."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    INT_OR_STR = "int_or_str"
    FILE = "file"  # InputFile, or a String file_id / URL
    JSON = "json"  # any object or array, JSON-encoded in form data


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind
    required: bool
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    params: dict[str, Param]
    required: tuple[str, ...]
    returns: tuple[str, ...]


def _kind(types: list[str]) -> Kind:
    if "InputFile" in types:
        return Kind.FILE
    match types:
        case ["Integer"]:
            return Kind.INT
        case ["Float"] | ["Float number"]:
            return Kind.FLOAT
        case ["Boolean"] | ["True"]:
            return Kind.BOOL
        case ["String"]:
            return Kind.STR
        case ["Integer", "String"] | ["String", "Integer"]:
            return Kind.INT_OR_STR
    return Kind.JSON


def _load() -> tuple[dict[str, MethodSpec], dict[str, dict[str, Any]], str]:
    raw = json.loads(API_JSON.read_text(encoding="utf-8"))
    methods: dict[str, MethodSpec] = {}
    for name, m in raw["methods"].items():
        params = {
            f["name"]: Param(f["name"], _kind(f["types"]), bool(f["required"]), tuple(f["types"]))
            for f in m.get("fields", [])
        }
        methods[name.lower()] = MethodSpec(
            name=name,
            params=params,
            required=tuple(p.name for p in params.values() if p.required),
            returns=tuple(m.get("returns", [])),
        )
    return methods, raw["types"], raw.get("version", "")


METHODS, TYPES, VERSION = _load()
UPDATE_TYPES: tuple[str, ...] = tuple(
    f["name"] for f in TYPES["Update"]["fields"] if f["name"] != "update_id"
)
#: What Telegram delivers when allowed_updates is unset or empty.
DEFAULT_UPDATE_TYPES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
MESSAGE_FIELD_TYPES: dict[str, tuple[str, ...]] = {
    f["name"]: tuple(f["types"]) for f in TYPES["Message"]["fields"]
}

# Telegram's own wording for the common "missing parameter" cases.
_MISSING: dict[str, str] = {
    "chat_id": "chat_id is empty",
    "from_chat_id": "from_chat_id is empty",
    "text": "message text is empty",
    "message_id": "message identifier is not specified",
    "user_id": "user_id is empty",
    "callback_query_id": "query_id is empty",
    "question": "poll question must be non-empty",
    "options": "POLL_ANSWERS_INVALID",
    "file_id": "file_id is empty",
    "commands": "commands are empty",
}
for _media in ("photo", "document", "audio", "video", "animation", "voice", "video_note", "sticker"):
    _MISSING[_media] = f"there is no {_media.replace('_', ' ')} in the request"


def missing_param_error(name: str) -> ApiError:
    return bad_request(_MISSING.get(name, f"{name} is required"))


# --------------------------------------------------------------------------- decoding
_TRUE = {"true": True, "1": True, "false": False, "0": False}


def coerce(param: Param, value: Any) -> Any:
    """Decode one request value according to its api.json type (form data is all strings)."""
    kind = param.kind
    name = param.name
    if kind is Kind.STR:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad_request(f"invalid {name} specified")
    if kind is Kind.INT_OR_STR:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            s = value.strip()
            if s.lstrip("-").isdigit():
                return int(s)
            return s
        raise bad_request(f"invalid {name} specified")
    if kind is Kind.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise bad_request(f"invalid {name} specified")
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE:
            return _TRUE[value.lower()]
        if isinstance(value, int):
            return bool(value)
        raise bad_request(f"invalid {name} specified")
    if kind is Kind.FLOAT:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None
    if kind is Kind.FILE:
        return value  # an Upload (resolved by the server) or a String
    # Kind.JSON
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            if name == "reply_markup":
                raise bad_request("can't parse reply keyboard markup JSON object") from None
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


# --------------------------------------------------------------------------- checking
def _check_primitive(value: Any, tname: str) -> bool | None:
    if tname == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if tname in ("Float", "Float number"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tname == "String":
        return isinstance(value, str)
    if tname == "Boolean":
        return isinstance(value, bool)
    if tname == "True":
        return value is True
    if tname == "InputFile":
        return True
    return None


def check_type(value: Any, tname: str, path: str = "$", *, strict: bool = True) -> list[str]:
    """Problems found checking `value` against api.json type `tname` (empty list: valid).

    Checks that every required field is present, recursively, and that present fields have the
    right JSON type. With `strict`, fields unknown to the spec are reported too: the fake must
    not invent fields.
    """
    if tname.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{path}: expected {tname}, got {type(value).__name__}"]
        inner = tname[len("Array of ") :]
        problems: list[str] = []
        for i, item in enumerate(value):
            problems += check_type(item, inner, f"{path}[{i}]", strict=strict)
        return problems
    prim = _check_primitive(value, tname)
    if prim is not None:
        return [] if prim else [f"{path}: expected {tname}, got {value!r:.60}"]
    spec = TYPES.get(tname)
    if spec is None:
        return [f"{path}: unknown type {tname}"]
    if spec.get("subtypes"):
        return check_value(value, spec["subtypes"], path, strict=strict)
    if not isinstance(value, dict):
        return [f"{path}: expected {tname} object, got {type(value).__name__}"]
    problems = []
    fields = {f["name"]: f for f in spec.get("fields", [])}
    for fname, f in fields.items():
        if fname in value:
            problems += check_value(value[fname], f["types"], f"{path}.{fname}", strict=strict)
        elif f["required"]:
            problems.append(f"{path}: {tname} lacks required field {fname!r}")
    if strict:
        problems += [f"{path}: field {k!r} is not in {tname}" for k in value if k not in fields]
    return problems


def check_value(value: Any, types: list[str] | tuple[str, ...], path: str = "$", *, strict: bool = True) -> list[str]:
    """Valid if any alternative type fits; otherwise the problems of the closest alternative."""
    best: list[str] | None = None
    for t in types:
        problems = check_type(value, t, path, strict=strict)
        if not problems:
            return []
        if best is None or len(problems) < len(best):
            best = problems
    return best or [f"{path}: no type given"]


def check_result(method: str, result: Any, *, strict: bool = True) -> list[str]:
    """Check a method's `result` against the return type(s) api.json declares for it."""
    spec = METHODS[method.lower()]
    return check_value(result, spec.returns, f"{spec.name}()", strict=strict)


# --------------------------------------------------------------------------- synthesis
def skeleton(tname: str, _depth: int = 0) -> Any:
    """A minimal valid value of `tname`: required fields only, neutral values.

    Used for the methods the fake does not model, so that their results still parse.
    """
    if tname.startswith("Array of "):
        return []
    defaults = {"Integer": 0, "Float": 0.0, "String": "", "Boolean": False, "True": True}
    if tname in defaults:
        return defaults[tname]
    spec = TYPES.get(tname)
    if spec is None or _depth > 8:
        return None
    if spec.get("subtypes"):
        return skeleton(spec["subtypes"][0], _depth + 1)
    return {
        f["name"]: skeleton(f["types"][0], _depth + 1)
        for f in spec.get("fields", [])
        if f["required"]
    }


def type_fields(tname: str) -> dict[str, tuple[str, ...]]:
    return {f["name"]: tuple(f["types"]) for f in TYPES[tname].get("fields", [])}
