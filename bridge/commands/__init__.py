"""The owner's commands beside sync and run: check, status, explain, preview, test email, demo."""
