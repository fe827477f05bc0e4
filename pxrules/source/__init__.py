"""pxrules.source."""
