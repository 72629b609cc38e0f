"""Every report module, imported here so that each declares itself in the registry before the
API and the console list them. The order here is the order of the console's menu."""

from patron.reports import overview, registry

__all__ = ["overview", "registry"]
