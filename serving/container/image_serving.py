"""The scikit-learn image's serving glue, for the local serving stack (serving/local_server.py).

The prebuilt image's ``serve`` command and its ``SAGEMAKER_SERVING_MODULE`` live in the image's own
package (aws/sagemaker-scikit-learn-container, src/sagemaker_sklearn_container/serving.py), which is not
published on PyPI. This module does what that glue does, on the real sagemaker-containers 2.8.6.post2:

* ``serve()`` (the image's ``serve`` entry point) hands ``SAGEMAKER_SERVING_MODULE`` to
  ``sagemaker_containers._server.start``, which installs the user code (``pip install .`` in the code
  directory) and then runs gunicorn with gevent workers;
* ``main`` (the WSGI app) builds the worker once per process: import the ``SAGEMAKER_PROGRAM`` module
  (an already importable module is used as is, otherwise sagemaker-containers downloads and installs it),
  refuse a module that mixes ``transform_fn`` with ``input_fn``/``predict_fn``/``output_fn``, load the
  model through a ``Transformer`` and serve it from a ``Worker`` (Flask) app.

Multi-model serving (the image's MMS path) and the image's default ``input_fn``/``predict_fn``/
``output_fn`` are not reproduced: sagestack's inference.py defines ``model_fn`` and ``transform_fn``
only, and a module without ``transform_fn`` is refused here with an error that says so.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from sagemaker_containers.beta.framework import env, modules, server, transformer, worker

_HANDLERS_REPLACED_BY_TRANSFORM_FN = ("input_fn", "predict_fn", "output_fn")
_app: Any = None


class UserModuleError(Exception):
    """The SAGEMAKER_PROGRAM module cannot be served by this glue."""


def _import_user_module(name: str, directory: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        module: ModuleType = modules.import_module(directory, name)  # sagemaker_containers is untyped
        return module


def _transformer(user_module: ModuleType) -> Any:
    transform_fn = getattr(user_module, "transform_fn", None)
    mixed = [n for n in _HANDLERS_REPLACED_BY_TRANSFORM_FN if getattr(user_module, n, None) is not None]
    if transform_fn is not None and mixed:
        raise UserModuleError(f"cannot use transform_fn together with {', '.join(mixed)}")
    if transform_fn is None:
        raise UserModuleError(
            f"{user_module.__name__} defines no transform_fn; this stand-in serves only transform_fn modules"
        )
    model_fn = getattr(user_module, "model_fn", None)
    if model_fn is None:
        raise UserModuleError(f"{user_module.__name__} defines no model_fn")
    return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)


def main(environ: dict[str, Any], start_response: Any) -> Any:
    """The WSGI app gunicorn serves (``SAGEMAKER_SERVING_MODULE=image_serving:main``)."""
    global _app
    if _app is None:
        serving_env = env.ServingEnv()
        user_module = _import_user_module(serving_env.module_name, serving_env.module_dir)
        user_transformer = _transformer(user_module)
        user_transformer.initialize()
        _app = worker.Worker(
            transform_fn=user_transformer.transform,
            module_name=serving_env.module_name,
            execution_parameters_fn=getattr(user_module, "execution_parameters_fn", None),
        )
    return _app(environ, start_response)


def serve() -> None:
    """The image's ``serve`` command (single-model)."""
    if os.environ.get("SAGEMAKER_MULTI_MODEL"):
        raise UserModuleError("SAGEMAKER_MULTI_MODEL: the multi-model server is not part of this stack")
    server.start(env.ServingEnv().framework_module)


if __name__ == "__main__":
    serve()
