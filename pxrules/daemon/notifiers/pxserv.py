"""Write back to PxServ over REST (the source's REST client): set (values are templates),
toggle, remove. Removing a key that is not there (404) counts as done: the goal is reached."""

from __future__ import annotations

from typing import Any

from ...rules.schema import PxServWriteSpec
from ...rules.templates import Template, TemplateError
from ...source.rest import PxServRest, RestError
from .base import Outcome, Result, Target, classify_http


class PxServTarget(Target):
    def __init__(self, name: str, spec: PxServWriteSpec, rest: PxServRest) -> None:
        self.name = name
        self._spec = spec
        self._rest = rest
        self._templates = {key: Template(value) for key, value in spec.set.items()}

    def _writes(self, document: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
        writes = [
            ("setData", {"key": key, "value": template.render(**document)})
            for key, template in self._templates.items()
        ]
        writes += [("toggleData", {"key": key}) for key in self._spec.toggle]
        writes += [("removeData", {"key": key}) for key in self._spec.remove]
        return writes

    async def send(self, document: dict[str, Any]) -> Result:
        try:
            writes = self._writes(document)
        except TemplateError as exc:
            return Result(Outcome.PERMANENT, str(exc))
        done = []
        for action, body in writes:
            try:
                await self._rest.call("POST", action, body)
            except RestError as exc:
                if action == "removeData" and exc.status == 404:
                    done.append(f"{action} {body['key']} (already absent)")
                    continue  # the goal, no such key, is reached
                if exc.status is None:  # no answer: timeout, connection failure
                    result = Result(Outcome.RETRY, str(exc))
                else:
                    result = classify_http(exc.status, exc.message, exc.retry_after)
                return Result(
                    result.outcome, f"{action} {body['key']}: {result.detail}", result.retry_after
                )
            done.append(f"{action} {body['key']}")
        return Result(Outcome.DELIVERED, ", ".join(done))
