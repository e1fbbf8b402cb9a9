"""momento-tvm: mint, inspect and vend scoped Momento disposable tokens."""

__version__ = "0.1.0"
