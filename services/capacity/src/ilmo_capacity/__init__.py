"""The capacity service."""

# The package whose gettext catalogue (locale/) translates the texts the service defines.
CATALOGUE = __name__
