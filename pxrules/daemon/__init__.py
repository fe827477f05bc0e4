"""pxrules.daemon."""
