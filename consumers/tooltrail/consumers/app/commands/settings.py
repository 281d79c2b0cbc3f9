"""``tooltrail settings``: validate the environment and show every effective setting."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import SecretStr

from tooltrail.consumers.app.app_settings import AppSettings
from tooltrail.consumers.app.commands import add, subcommands
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.config import (
    KafkaSettings,
    TooltrailSettings,
    env_names,
    load_settings,
    mask_credentials,
)


def effective(cls: type[TooltrailSettings]) -> dict[str, Any]:
    """``{ENV_NAME: value}`` for one settings class, secrets masked."""
    settings = load_settings(cls)
    out: dict[str, Any] = {}
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        if isinstance(value, SecretStr):
            value = "********"
        elif isinstance(value, str):
            value = mask_credentials(value)
        out[env_names(cls, field)[0]] = value
    return out


def markdown_table() -> str:
    """The configuration table of the README: every variable, its default and meaning."""
    rows = ["| variable | default | used by | meaning |", "|---|---|---|---|"]
    seen: set[str] = set()
    for cls, user in (
        (ProducerSettings, "producer"),
        (WorkerSettings, "workers"),
        (AppSettings, "cli"),
    ):
        for field, info in cls.model_fields.items():
            names = env_names(cls, field)
            if names[0] in seen:
                continue
            seen.add(names[0])
            default = info.get_default(call_default_factory=False)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            shown = extra.get("shown", "hostname") if info.default_factory else default
            shown = (
                "" if shown is None else (",".join(shown) if isinstance(shown, tuple) else shown)
            )
            variable = " / ".join(f"`{n}`" for n in names)
            used = "both" if field in KafkaSettings.model_fields else user
            cell = f"`{shown}`" if shown != "" else "(unset)"
            meaning = " ".join((info.description or "").split())  # one table row per setting
            rows.append(f"| {variable} | {cell} | {used} | {meaning} |")
    return "\n".join(rows)


def show(*, as_json: bool, markdown: bool = False) -> int:
    """Print producer, worker and CLI settings; a bad value raises ``SettingsError`` (exit 2)."""
    if markdown:
        print(markdown_table())
        return 0
    data = {
        "producer": effective(ProducerSettings),
        "worker": effective(WorkerSettings),
        "cli": effective(AppSettings),
    }
    if as_json:
        print(orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode())
        return 0
    printed: set[str] = set()  # the Kafka settings, shared, once
    for section, values in data.items():
        print(f"[{section}]")
        unset = 0
        for name, value in values.items():
            if name in printed:
                continue
            printed.add(name)
            if value is None or value in ((), [], ""):
                unset += 1
                continue
            print(f"  {name} = {shown(value)}")
        if unset:
            print(f"  ({unset} more not set; 'tooltrail settings --json' lists every one)")
    return 0


def shown(value: Any) -> str:
    """A setting's value as it would be written in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list | set | frozenset):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ";".join(f"{k}={shown(v)}" for k, v in value.items())
    return str(value)


def register(commands: Any) -> None:
    """``tooltrail settings`` and ``tooltrail schemas dump|check``."""
    p = add(
        commands,
        "settings",
        "validate the environment and show every effective setting",
        "Validate every TOOLTRAIL_* variable and print the effective settings (secrets and "
        "URL credentials masked); exit 2 naming each bad variable.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", action="store_true", help="print the README's settings table")
    p.set_defaults(handler=lambda a: show(as_json=a.json, markdown=a.markdown))
    p = add(commands, "schemas", "JSON Schema snapshots of the wire models")
    actions = subcommands(p, "action")
    add(actions, "dump", "rewrite schemas/jsonschema/*.json from the models").set_defaults(
        handler=lambda a: _schemas(dump=True)
    )
    add(actions, "check", "check the snapshots match the models (exit 1 if not)").set_defaults(
        handler=lambda a: _schemas(dump=False)
    )


def _schemas(*, dump: bool) -> int:
    from tooltrail.schemas import jsonschemas, typescript

    if dump:
        for path in [*jsonschemas.write(), typescript.write()]:
            print(path)
        return 0
    stale = jsonschemas.drift() + (["typescript/tooltrail.d.ts"] if typescript.drifted() else [])
    for name in stale:
        print(f"stale: {name} (run 'tooltrail schemas dump')")
    if not stale:
        print(
            f"ok: {len(jsonschemas.WIRE_MODELS)} snapshots and the TypeScript declarations "
            "match the models"
        )
    return 1 if stale else 0
