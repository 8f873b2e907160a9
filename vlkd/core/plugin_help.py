"""``vlkd plugins NAME``: one plugin's options as a person reads them (type, default, description)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from vlkd.core.registry import PluginInfo


def _type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "enum" in prop:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if key in prop:
            seen: list[str] = []
            for option in prop[key]:
                text = _type_of(option, defs)
                if text not in seen:
                    seen.append(text)
            return " | ".join(seen)
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list[{_type_of(prop.get('items', {}), defs)}]"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map[str, {_type_of(prop['additionalProperties'], defs)}]"
    if prop.get("format") == "password":
        return "secret"
    if prop.get("format") == "path":
        return "path"
    return {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "null": "null"}.get(
        kind, kind
    )


def _default(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def option_rows(info: PluginInfo) -> list[dict[str, str]]:
    """One row per option: name, type, default, description (``plugin`` itself left out)."""
    model = info.cls.Options
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    rows = []
    for name, prop in schema.get("properties", {}).items():
        if name == "plugin" or name not in model.model_fields:
            continue
        rows.append(
            {
                "option": name,
                "type": _type_of(prop, defs),
                "default": _default(model, name),
                "description": model.model_fields[name].description or prop.get("description", ""),
            }
        )
        rows.extend(_nested_rows(name, prop, defs))
    return rows


def _nested_rows(prefix: str, prop: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, str]]:
    """``prompt.language`` and the like: the options of a nested options model, one level down."""
    ref = prop.get("$ref") or next((o["$ref"] for o in prop.get("anyOf", ()) if "$ref" in o), None)
    sub = defs.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
    rows = []
    for name, item in sub.get("properties", {}).items():
        default = item.get("default", "required" if name in sub.get("required", ()) else None)
        rows.append(
            {
                "option": f"{prefix}.{name}",
                "type": _type_of(item, defs),
                "default": default if default == "required" else json.dumps(default, ensure_ascii=False),
                "description": item.get("description", ""),
            }
        )
    return rows
