"""Bundled plugins. Each registers under the ``fulian.plugins`` entry-point group in
``setup.cfg`` exactly as a third-party distribution would; the core never imports them."""
