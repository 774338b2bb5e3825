"""Bench runner: scenarios against a virtual board or a real one (--port)."""
