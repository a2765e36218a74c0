"""lendkit's builtin business-model plugins, one package each; enable them by name.

A plugin is an ordinary module (or object) whose functions are decorated with
``@lendkit.hookimpl`` and named after the hooks in :mod:`lendkit.core.hookspecs`.
"""
