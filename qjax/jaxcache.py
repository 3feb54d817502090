"""JAX's persistent compilation cache under the user's cache directory.

XLA compiles a circuit's ``value_and_grad`` in seconds; the executable depends only
on the circuit's structure, the shapes and the jax/jaxlib versions, so keeping it on
disk turns the first call of a rerun (a resumed run, the next sweep member, a
notebook restart) from compiling into loading. The CLI enables it at start-up.
"""

from __future__ import annotations

import os

__all__ = ["default_cache_dir", "enable_compilation_cache"]

# XLA compilations shorter than this are not worth a disk round trip.
MIN_COMPILE_SECONDS = 0.1


def default_cache_dir() -> str | None:
    """``$QJAX_CACHE_DIR/jax``, default ``$XDG_CACHE_HOME/qjax/jax`` or ``~/.cache/qjax/jax``;
    None when ``QJAX_CACHE_DIR`` is set but empty (the cache is off)."""
    root = os.environ.get("QJAX_CACHE_DIR")
    if root is None:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "qjax")
    return os.path.join(root, "jax") if root else None


def enable_compilation_cache(
    cache_dir: str | None = None, min_compile_seconds: float = MIN_COMPILE_SECONDS
) -> str | None:
    """Point JAX's persistent compilation cache at ``cache_dir`` (default :func:`default_cache_dir`).

    A directory chosen through JAX's own ``JAX_COMPILATION_CACHE_DIR`` is left alone.
    Returns the directory in use, or None when the cache stays off.
    """
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    path = default_cache_dir() if cache_dir is None else cache_dir
    if not path:
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
