"""The notification service."""

# The package whose gettext catalogue (locale/) translates the mails.
CATALOGUE = __name__
