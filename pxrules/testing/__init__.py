"""pxrules.testing."""
