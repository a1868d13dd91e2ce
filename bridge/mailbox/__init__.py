"""The sending account's mailbox, read over IMAP and never changed: the Sent folder settles sends whose
outcome SMTP could not tell (`settle.py`). `client.py` is the only module that speaks IMAP."""
