"""The vendor stand-in's test accounts: what the token server accepts, and for which slugs."""

SA_TOKEN = "sa-token-7f3c9a1e5b2d4f60"
USER_TOKEN = "user-token-0d9e8f7a6b5c"
EMAIL = "dev@vendor.example"
PASSWORD = "correct horse battery staple"
OTHER_TOKEN = "sa-token-otherapp-44aa"
SOURCE_TOKEN = "source-reader-token-9c8b7a"  # reads (and seeds) the private source's acme/*
IDENTITY_TOKEN = "identity-refresh-token-3e7d1b5a"  # `docker login`'s identitytoken for acme/*
BASIC_USER = "basic-pusher"
BASIC_PASSWORD = "basic-password-6b2e9f0c"  # the htpasswd registry's
