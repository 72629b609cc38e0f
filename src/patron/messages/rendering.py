"""Templates rendered in Jinja2's sandbox: variables only, no access to Python internals, and a
variable the caller did not give is an error (never an empty hole in a message)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from patron.messages.errors import TemplateRenderFailed

_VARIABLE = re.compile(r"{{-?\s*([A-Za-z_][A-Za-z0-9_]*)")
MAX_BODY = 4000


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    return environment().from_string(source)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """`source` with `variables`; TemplateRenderFailed (code template_render_failed) when a
    variable is missing, the syntax is wrong or the sandbox refuses an expression."""
    try:
        return _compiled(source).render(dict(variables))[:MAX_BODY]
    except TemplateError as exc:  # UndefinedError, SecurityError, TemplateSyntaxError
        raise TemplateRenderFailed(f"{type(exc).__name__}: {exc.message or exc}") from exc


@lru_cache(maxsize=64)
def plain(source: str) -> Callable[[Mapping[str, Any]], str] | None:
    """For a template of text and bare `{{ variable }}`s only (no filter, tag or expression),
    a renderer giving what `render` gives, without Jinja's context set up per render (a
    campaign renders one per member); None for any other template."""
    try:
        tree = environment().parse(source)
    except TemplateError:
        return None
    pieces: list[str | tuple[str]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append(child.data)
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                pieces.append((child.name,))
            else:
                return None

    def render_plain(variables: Mapping[str, Any]) -> str:
        try:
            text = "".join(p if isinstance(p, str) else str(variables[p[0]]) for p in pieces)
        except KeyError as exc:
            raise TemplateRenderFailed(f"UndefinedError: {exc.args[0]!r} is undefined") from exc
        return text[:MAX_BODY]

    return render_plain


def check(source: str) -> None:
    """Refuse a template that does not even parse (on save)."""
    try:
        environment().parse(source)
    except TemplateError as exc:
        raise TemplateRenderFailed(f"{type(exc).__name__}: {exc.message or exc}") from exc


def variable_names(source: str) -> list[str]:
    """The plain variables a template names, in order of first appearance (Tencent Cloud SMS
    fills its templates by position: {1}, {2}, …)."""
    names: list[str] = []
    for name in _VARIABLE.findall(source):
        if name not in names:
            names.append(name)
    return names
