# Sourced by .ci/run: each fuzz target for a short budget.
#
# The budget is a count of executions, not a duration: with a duration, Go
# before 1.27 can fail a target with "context deadline exceeded" when the
# deadline fires (golang/go#75804), and a starved 2-core runner makes that
# likely. A count has no deadline, so a slow machine only takes longer;
# -timeout still bounds a real hang.
#
# Why not fewer: at 30000 executions most targets were still finding new
# inputs at a steady rate (FuzzStandbyScheme 22, 44, 58, 73 new at about
# 4000, 14000, 22000 and 30000), and most of the step's time is building
# each package for fuzzing, which fewer executions do not shorten.
fuzz_budget="${FUZZ_BUDGET:-30000x}"
while read -r pkg target; do
  [ -n "$pkg" ] || continue
  echo "fuzz $pkg $target"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzz_budget" -timeout 5m "$pkg"
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  d=$(dirname "$f")
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | sed "s|^|$d |"
done)
