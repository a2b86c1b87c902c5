"""The package version (read by the package face, the command line and the build)."""

__version__ = "0.1.0"
