"""Email kinds, their rendering from templates, and locale formatting."""
