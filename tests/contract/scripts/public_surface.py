"""Print the public surface of whichever ``hindsight_client`` is importable, as JSON: every public method of
``Hindsight`` (parameter names, kinds, defaults, sync or async) and, per namespace, its public method names.

Run by tests/client/test_dropin.py in the real SDK's venv (``python public_surface.py BASE_URL``) and in-process for
ours, so the two surfaces can be compared.
"""

import inspect
import json

from hindsight_client import Hindsight


def describe(function) -> dict:
    parameters = []
    for parameter in inspect.signature(function).parameters.values():
        default = None if parameter.default is inspect.Parameter.empty else repr(parameter.default)
        if default is not None and default.startswith("<object object"):
            default = "<sentinel>"
        parameters.append([parameter.name, parameter.kind.name, default])
    return {"async": inspect.iscoroutinefunction(function), "parameters": parameters}


client = Hindsight("http://127.0.0.1:9")
surface = {"methods": {}, "namespaces": {}}
for name, member in inspect.getmembers(Hindsight):
    if name.startswith("_") and name not in ("__init__", "__enter__", "__exit__"):
        continue
    if isinstance(inspect.getattr_static(Hindsight, name), property):
        continue
    if callable(member):
        surface["methods"][name] = describe(member)
for name in ("memory", "banks", "directives", "mental_models", "documents", "operations", "entities", "monitoring"):
    namespace = getattr(client, name, None)
    if namespace is None:
        continue
    surface["namespaces"][name] = {
        method: describe(getattr(namespace, method))
        for method in dir(namespace)
        if not method.startswith("_") and callable(getattr(namespace, method))
    }
print(json.dumps(surface))
