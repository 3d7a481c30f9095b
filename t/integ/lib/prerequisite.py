"""prerequisite.py - what a test does when something it needs is missing.

Interface:
    strict()          True under CI (CI set to anything but "", "0", "false")
                      or when running as root: a missing prerequisite is then
                      a failure, never a skip
    strict_reason()   why strict() is true ("CI=true", "running as root")
    missing(what)     print why the test cannot run; returns the exit status:
                      77 (automake SKIP) normally, 1 (FAIL) when strict()

A developer without root or without some package may skip a test; CI and a
root run (the README's commands, a fresh Debian 12 machine) must not, or a
missing package would look like a green suite.  t/lib/prerequisite.sh is
the same rule for shell scripts and t/check-all.
"""

import os
import sys

SKIP = 77


def _ci():
	return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def strict():
	return _ci() or os.geteuid() == 0


def strict_reason():
	if _ci():
		return "CI=%s" % os.environ.get("CI")
	return "running as root"


def missing(what, out=None):
	"""Report that prerequisite what is missing; the exit status to use."""
	out = out or sys.stdout
	if strict():
		print("Bail out! missing prerequisite: %s (a skip counts as a failure: %s)"
		      % (what, strict_reason()), file=out)
		return 1
	print("1..0 # SKIP missing prerequisite: %s" % what, file=out)
	return SKIP
