# Counting for scripts/test (sourced): each function reads the captured output of one part and the
# part's exit status, and prints "PASSED FAILED SKIPPED". A part that exits non-zero without a
# counted failure (a build error, a crash between tests, a missing summary) counts one failure, so
# a failure can never add up to zero. scripts/results-selftest checks these on sample output.

# cargo test: the sum of every "test result:" line (unit, integration and doc tests); ignored
# tests count as skipped.
count_cargo_test() {
  local p f s
  read -r p f s < <(awk '/^test result: / {
      for (i = 2; i <= NF; i++) {
        if ($i ~ /^passed;?$/) p += $(i - 1)
        if ($i ~ /^failed;?$/) f += $(i - 1)
        if ($i ~ /^ignored;?$/) s += $(i - 1)
      }
    } END { print p + 0, f + 0, s + 0 }' "$1")
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$p $f $s"
}

# scripts/fuzz: one per target, from its last line "fuzz: N passed, M failed".
count_fuzz() {
  local p f line
  line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$1" | tail -1)
  if [ -n "$line" ]; then
    read -r p f < <(sed -E 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$line")
  else
    p=0 f=0
  fi
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$p $f 0"
}

# A check that passes or fails as a whole (scripts/fuzz-selftest, scripts/results-selftest): one,
# from its exit status.
count_check() {
  if [ "$2" -eq 0 ]; then echo "1 0 0"; else echo "0 1 0"; fi
}

# pytest: its summary line ("2 failed, 40 passed, 1 skipped, 3 warnings in 9.1s"); errors count
# as failed, xfailed as skipped, xpassed as passed.
count_pytest() {
  local p f s
  read -r p f s < <(grep -E '[0-9]+ (passed|failed|errors?|skipped|xfailed|xpassed)|no tests ran' "$1" |
    tail -1 | awk '{
      for (i = 2; i <= NF; i++) {
        w = $i; gsub(/[^a-z]/, "", w); n = $(i - 1); gsub(/[^0-9]/, "", n)
        if (n == "") continue
        if (w == "passed" || w == "xpassed") p += n
        else if (w == "failed" || w == "error" || w == "errors") f += n
        else if (w == "skipped" || w == "xfailed") s += n
      }
    } END { print p + 0, f + 0, s + 0 }')
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$p $f $s"
}

# The last line of scripts/test: "N passed, M failed", plus ", K skipped" when K > 0.
summary_line() {
  if [ "$3" -gt 0 ]; then echo "$1 passed, $2 failed, $3 skipped"; else echo "$1 passed, $2 failed"; fi
}
