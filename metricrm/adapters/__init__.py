"""Scorer adapters, one module per family. Modules import their heavy libraries lazily."""
