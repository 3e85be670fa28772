"""Prints what python-dotenv (Debian's python3-dotenv) reads from the file
named by the first argument, as `helper env` prints an environment: NAME
HASH lines (never a value), sorted, then "end". A name without a value
(None) is not set by load_dotenv, so it is not printed."""
import hashlib
import sys

from dotenv import dotenv_values

values = dotenv_values(sys.argv[1])
for name in sorted(values):
    if values[name] is not None:
        print(name, hashlib.sha256(values[name].encode("utf-8", "surrogateescape")).hexdigest()[:16])
print("end")
