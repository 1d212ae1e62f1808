"""Prompts are versioned files (operator/investigation/prompts/*.md): the first line is `version: NAME/N`.

The version travels into every report, so a diagnosis can always be traced to the exact prompt.
Placeholders are `$name` (string.Template), leaving JSON braces in the examples untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    template: Template

    def render(self, **values: str) -> str:
        return self.template.substitute(values)


@cache
def load(name: str) -> Prompt:
    text = files("smart_sre.investigation").joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    if not first.startswith("version: "):
        raise ValueError(f"prompt {name}.md must start with a 'version: NAME/N' line")
    return Prompt(name=name, version=first.removeprefix("version: ").strip(), template=Template(body.strip()))
