"""The package version, in a leaf module (the plugin manager reports it for the built-in plugins)."""

__version__ = "0.1.0"
