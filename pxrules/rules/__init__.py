"""pxrules.rules."""
