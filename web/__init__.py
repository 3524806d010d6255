"""Read what feedwatch gathered: web pages, merged Atom/JSON feeds and search (read-only).

`queries` reads the state database (opened read-only), `index` owns a derived SQLite file beside
it (story list projection and full-text search, rebuilt from the archive), `feeds` renders merged
Atom and JSON Feed documents, `render` sanitizes stored bodies for display, `app` serves it all.
"""
