# prerequisite.sh - sourced by shell tests and t/check-all: what to do when
# something a test needs is missing.
#
#   prerequisite_strict        true under CI (CI set to anything but "",
#                              "0", "false", "no") or when running as root
#   prerequisite_missing WHAT  print why the test cannot run and exit: 77
#                              (automake SKIP) normally, 1 (FAIL) when strict
#
# A developer without root or without some package may skip a test; CI and
# a root run must not, or a missing package would look like a green suite.
# t/integ/lib/prerequisite.py is the same rule for the Python harnesses.

prerequisite_ci() {
	case "$(printf '%s' "${CI:-}" | tr 'A-Z' 'a-z')" in
	"" | 0 | false | no) return 1 ;;
	esac
	return 0
}

prerequisite_strict() {
	prerequisite_ci || [ "$(id -u)" = 0 ]
}

prerequisite_strict_reason() {
	if prerequisite_ci; then echo "CI=$CI"; else echo "running as root"; fi
}

prerequisite_missing() {
	if prerequisite_strict; then
		echo "Bail out! missing prerequisite: $1 (a skip counts as a failure: $(prerequisite_strict_reason))"
		exit 1
	fi
	echo "1..0 # SKIP missing prerequisite: $1"
	exit 77
}
