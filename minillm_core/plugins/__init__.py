"""The plugin host: built-in skills and third-party plugins, registered with pluggy the same way.

host (PluginHost: loads entry points, runs hooks, reports what failed), hookspecs (the hooks a plugin may
implement), contained (plugin code called so that it cannot take the CLI down)."""

from minillm_core.util.lazy import lazy_exports

PUBLIC = {  # name -> the module it comes from, imported on first use
    "PluginHost": "minillm_core.plugins.host",
    "UnknownSkill": "minillm_core.plugins.host",
    "get_host": "minillm_core.plugins.host",
    "reset_host": "minillm_core.plugins.host",
    "hookimpl": "minillm_core.plugins.hookspecs",
}
__all__ = list(PUBLIC)
__getattr__ = lazy_exports(__name__, PUBLIC)
