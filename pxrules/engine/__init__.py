"""pxrules.engine."""
