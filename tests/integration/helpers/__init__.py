"""Helpers for berth's integration tests: registries, a token server, an image builder, berthd."""
