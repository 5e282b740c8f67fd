"""Validation of dependency lists: pip requirement strings for Python, npm specs for JavaScript.

A requirement ends up as an argument to an installer, so anything that looks like an option
(``-e``, ``--index-url``) is refused here rather than trusted there.
"""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement

from backend.errors import Unprocessable

NPM_SPEC = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]{0,213}(@[^\s]{1,500})?$")
MAX_REQUIREMENT_CHARS = 1000


def validate_dependencies(language: str, dependencies: list[str]) -> list[str]:
    cleaned: list[str] = []
    for index, raw in enumerate(dependencies):
        spec = raw.strip()
        field = f"dependencies[{index}]"
        if not spec or len(spec) > MAX_REQUIREMENT_CHARS or spec.startswith("-") or "\x00" in spec:
            raise Unprocessable(f"{field}: not a valid requirement", field=field)
        if language == "python":
            try:
                Requirement(spec)
            except InvalidRequirement as error:
                raise Unprocessable(f"{field}: {error}", field=field) from None
        elif language == "javascript":
            if not NPM_SPEC.match(spec):
                raise Unprocessable(f"{field}: expected an npm spec like 'lodash@^4.17'", field=field)
        else:
            raise Unprocessable(f"{field}: shell scripts cannot declare dependencies", field=field)
        if spec not in cleaned:
            cleaned.append(spec)
    return cleaned
