"""Bundled themes. Each sub-folder with a ``theme.toml`` is a theme (see core.theming)."""
