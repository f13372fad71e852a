"""The ``fulian`` command line: ops provision and run a deployment from here."""
