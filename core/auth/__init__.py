"""Identities, credentials and (from issue 4) tokens and the policy layer."""
