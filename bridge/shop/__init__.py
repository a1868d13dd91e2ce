"""PrestaShop webservice access: the client, typed records, the shop profile."""
