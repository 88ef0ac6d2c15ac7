"""Manual operations and system settings (DESIGN §5)."""
