"""PrestaShop → SMTP mail bridge: polls a shop's webservice and sends the emails it no longer sends."""

__version__ = "0.1.0"
