"""Model string → route: which provider, and which model name it gets upstream.

Accepted forms: `gpt-5` (alias, else the provider whose model patterns match, else
routing.default_provider), `openai/gpt-5` and `gpt-5/openai` (explicit provider).
Results are cached: the set of model strings a deployment sees is small.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from lockgate.config import Settings
from lockgate.errors import NotFound

__all__ = ["Route", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    provider: str
    model: str  # the name the upstream gets


class Router:
    def __init__(self, settings: Settings) -> None:
        self._providers = settings.providers
        self._aliases = settings.aliases
        self._default = settings.routing.default_provider
        self._cache: dict[str, Route] = {}

    def resolve(self, model: str) -> Route:
        route = self._cache.get(model)
        if route is None:
            route = self._resolve(model, depth=0)
            if len(self._cache) < 10_000:
                self._cache[model] = route
        return route

    def _resolve(self, model: str, depth: int) -> Route:
        if model in self._aliases and depth < 8:
            return self._resolve(self._aliases[model], depth + 1)
        if "/" in model:
            head, rest = model.split("/", 1)
            if head in self._providers and rest:
                return self._route(head, rest)
            body, tail = model.rsplit("/", 1)
            if tail in self._providers and body:
                return self._route(tail, body)
        for name, prov in self._providers.items():
            if any(fnmatchcase(model, pat) for pat in prov.models):
                return self._route(name, model)
        if self._default:
            return self._route(self._default, model)
        raise NotFound(
            f"The model `{model}` does not exist or is not routed by this gateway.",
            code="model_not_found", param="model")

    def _route(self, provider: str, model: str) -> Route:
        # Azure: the upstream knows deployments, not model names.
        return Route(provider, self._providers[provider].deployments.get(model, model))

    def model_names(self) -> list[tuple[str, str]]:
        """(model id, owner) for every concrete model name the config routes."""
        out = [(alias, "lockgate") for alias in self._aliases]
        for name, prov in self._providers.items():
            out += [(m, name) for m in prov.models if not any(c in m for c in "*?[")]
        return out
