"""The OpenAPI 3.1 document of the JSON API (served at ``/api/v1/openapi.json``); a test checks
that it names every route the server has, and that responses match its schemas."""

from __future__ import annotations

from typing import Any

from .. import __version__

_TIME = {"type": ["string", "null"], "format": "date-time"}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_ERROR = {
    "description": "An error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_SILENCE = _obj(
    ["id", "matchers", "starts_at", "ends_at", "comment", "created_by"],
    id=_STR,
    matchers={"$ref": "#/components/schemas/Matchers"},
    starts_at=_TIME,
    ends_at=_TIME,
    comment=_STR,
    created_by=_STR,
    state={"enum": ["pending", "active", "expired"]},
)

# fmt: off
SCHEMAS: dict[str, Any] = {
    "Error": _obj(["error"], error=_STR),
    "Matchers": {
        "type": "object",
        "description": "Label name → glob; every one must match",
        "properties": {name: _STR for name in ("project", "rule", "key", "severity")},
        "additionalProperties": False,
        "minProperties": 1,
    },
    "Alert": _obj(
        [
            "project",
            "rule",
            "key",
            "state",
            "severity",
            "value",
            "since",
            "silenced",
            "inhibited",
            "muted",
        ],
        project=_STR,
        rule=_STR,
        key=_STR,
        state={"enum": ["pending", "firing"]},
        severity=_STR,
        value=_NSTR,
        since=_TIME,
        notified={"type": "boolean"},
        silenced={"type": "boolean"},
        silenced_by=_NSTR,
        inhibited={"type": "boolean"},
        inhibited_by=_NSTR,
        muted={"type": "boolean"},
        muted_by=_NSTR,
        flapping={"type": "boolean"},
    ),
    "Alerts": _obj(
        ["alerts"], alerts={"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}
    ),
    "Key": _obj(
        ["project", "key", "value", "updated", "rules"],
        project=_STR,
        key=_STR,
        value=_NSTR,
        number={"type": ["number", "null"]},
        updated=_TIME,
        removed={"type": "boolean"},
        rules={"type": "array", "items": _STR},
        history={"type": "boolean"},
    ),
    "Keys": _obj(
        ["keys", "total"],
        keys={"type": "array", "items": {"$ref": "#/components/schemas/Key"}},
        total={"type": "integer"},
    ),
    "History": _obj(
        ["project", "key", "points", "rules"],
        project=_STR,
        key=_STR,
        value=_NSTR,
        updated=_TIME,
        capacity={"type": "integer"},
        points={
            "type": "array",
            "items": _obj(["at", "number"], at=_TIME, number={"type": ["number", "null"]}),
        },
        rules={
            "type": "array",
            "items": _obj(
                ["rule", "thresholds"],
                rule=_STR,
                thresholds={"type": "array", "items": {"type": "number"}},
            ),
        },
    ),
    "Rules": _obj(
        ["project", "file", "rules", "last_reload"],
        project=_STR,
        file=_STR,
        rules={
            "type": "array",
            "items": _obj(
                ["project", "name", "keys", "severity", "notify", "firing", "pending"],
                project=_STR,
                name=_STR,
                description=_NSTR,
                keys={"type": "array", "items": _STR},
                severity=_STR,
                notify={"type": "array", "items": _STR},
                event_rule={"type": "boolean"},
                firing={"type": "integer"},
                pending={"type": "integer"},
            ),
        },
        last_reload=_obj(
            ["successful", "at"], successful={"type": "boolean"}, at=_TIME, error=_NSTR
        ),
        projects={"type": "array", "items": _obj(
            ["project", "file", "last_reload"], project=_STR, file=_STR,
            last_reload=_obj(["successful", "at"], successful={"type": "boolean"}, at=_TIME,
                             error=_NSTR),
        )},
        broken={"type": "array", "items": _obj(["file", "error"], file=_STR, error=_STR)},
    ),
    "Deliveries": _obj(
        ["deliveries", "pending"],
        deliveries={
            "type": "array",
            "items": _obj(
                ["project", "id", "target", "notifier", "status", "attempts", "last_error"],
                project=_STR,
                id=_STR,
                target=_STR,
                notifier=_STR,
                rule=_NSTR,
                key=_NSTR,
                state=_NSTR,
                status={"enum": ["pending", "failed", "delivered"]},
                attempts={"type": "integer"},
                created=_TIME,
                next_attempt=_TIME,
                last_error=_NSTR,
            ),
        },
        pending={"type": "object", "additionalProperties": {"type": "integer"}},
    ),
    "Silence": _SILENCE,
    "Silences": _obj(
        ["silences"], silences={"type": "array", "items": {"$ref": "#/components/schemas/Silence"}}
    ),
    "NewSilence": {
        "type": "object",
        "required": ["matchers"],
        "properties": {
            "matchers": {"$ref": "#/components/schemas/Matchers"},
            "starts_at": {"type": "string", "format": "date-time"},
            "ends_at": {"type": "string", "format": "date-time"},
            "duration": {"type": ["string", "number"], "description": "e.g. 2h, 90m, 3600"},
            "comment": _STR,
            "created_by": _STR,
        },
        "additionalProperties": False,
    },
    "Reload": _obj(["ok"], ok={"type": "boolean"}, error=_NSTR),
    "Page": _obj(
        ["project", "alerts", "deliveries", "silences", "keys", "total_keys"],
        project=_STR,
        alerts={"type": "array", "items": {"$ref": "#/components/schemas/Alert"}},
        deliveries={"type": "array"},
        silences={"type": "array", "items": {"$ref": "#/components/schemas/Silence"}},
        keys={"type": "array", "items": {"allOf": [
            {"$ref": "#/components/schemas/Key"},
            _obj(["points", "thresholds"], points={"type": "array"},
                 thresholds={"type": "array", "items": {"type": "number"}}),
        ]}},
        total_keys={"type": "integer"},
    ),
}
# fmt: on

_WRITE: dict[str, Any] = {"security": [{"bearer": []}], "responses": {"401": _ERROR, "403": _ERROR}}


def _write(operation: dict[str, Any]) -> dict[str, Any]:
    merged = {**operation, "security": _WRITE["security"]}
    merged["responses"] = {**operation["responses"], **_WRITE["responses"]}
    return merged


# fmt: off
PATHS: dict[str, Any] = {
    "/api/v1/alerts": {"get": {
        "summary": "Firing and pending alerts, firing first",
        "responses": {"200": _ok("Alerts", "The alerts")},
    }},
    "/api/v1/keys": {"get": {
        "summary": "Keys, their latest values, last update and the rules that watch them",
        "parameters": [
            {"name": "match", "in": "query", "schema": _STR, "description": "a key glob"},
            {"name": "project", "in": "query", "schema": _STR,
             "description": "one project's keys only"},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
        ],
        "responses": {"200": _ok("Keys", "The keys, sorted"), "400": _ERROR},
    }},
    "/api/v1/keys/{key}/history": {"get": {
        "summary": "A key's recent readings and its rules' thresholds",
        "parameters": [{"name": "key", "in": "path", "required": True, "schema": _STR},
                       {"name": "project", "in": "query", "schema": _STR,
                        "description": "the key's project (default: the first that has it)"}],
        "responses": {"200": _ok("History", "The readings, oldest first"), "404": _ERROR},
    }},
    "/api/v1/rules": {"get": {
        "summary": "The rules in force and the last reload",
        "responses": {"200": _ok("Rules", "The rules")},
    }},
    "/api/v1/deliveries": {"get": {
        "summary": "Undelivered (queued, retrying) and failed notifications, newest first",
        "parameters": [
            {"name": "status", "in": "query",
             "schema": {"enum": ["pending", "failed", "delivered"]}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
        ],
        "responses": {"200": _ok("Deliveries", "The deliveries"), "400": _ERROR},
    }},
    "/api/v1/silences": {
        "get": {
            "summary": "Silences: pending, active, and those expired in the last five days",
            "responses": {"200": _ok("Silences", "The silences")},
        },
        "post": _write({
            "summary": "Create a silence",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NewSilence"}}}},
            "responses": {"200": _ok("Silence", "The new silence (its id)"), "400": _ERROR,
                          "413": _ERROR, "415": _ERROR},
        }),
    },
    "/api/v1/silences/{id}": {"delete": _write({
        "summary": "Expire a silence now (what it held back is sent if still true)",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": _ok("Silence", "The expired silence"), "404": _ERROR},
    })},
    "/-/reload": {"post": _write({
        "summary": "Reload the rules file (as SIGHUP)",
        "responses": {"200": _ok("Reload", "Reloaded"),
                      "422": _ok("Reload", "The file is invalid; the old rules stay")},
    })},
    "/api/v1/stream": {"get": {
        "summary": "Server-sent events for the status page: an `update` event (the Page "
                   "document) whenever it changes",
        "parameters": [{"name": "match", "in": "query", "schema": _STR,
                        "description": "a key glob for the keys shown"}],
        "responses": {"200": {"description": "An event stream",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      "503": _ERROR},
    }},
    "/": {"get": {
        "summary": "The status page",
        "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
    }},
    "/static/{name}": {"get": {
        "summary": "The status page's script and style sheet",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}],
        "responses": {"200": {"description": "The file"}, "404": _ERROR},
    }},
    "/api/v1/openapi.json": {"get": {
        "summary": "This document",
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
}
# fmt: on


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pxrules",
            "version": __version__,
            "description": "The JSON API of a running `pxrules run --http` (docs/console.md).",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
