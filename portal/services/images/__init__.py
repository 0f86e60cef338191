"""Images in the private registry: reading uploaded archives (archive.py); pushing, listing,
tags, retention and garbage collection build on the registry adapter (portal/adapters/registry.py)."""
