# Sourced by .ci/run: each fuzz target for a short budget.
fuzz_budget="${FUZZ_BUDGET:-10s}"
while read -r pkg target; do
  [ -n "$pkg" ] || continue
  echo "fuzz $pkg $target"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzz_budget" "$pkg"
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  d=$(dirname "$f")
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | sed "s|^|$d |"
done)
