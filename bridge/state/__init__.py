"""The state store: every SQL statement and migration of the bridge lives here."""
