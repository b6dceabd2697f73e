#!/bin/bash
# The lint figures on the corpus of real migration files
# (test/lint_corpus/, docs/review.md "Severities changed in 0.2"): every
# error finding labelled, error-severity precision >= 90 %, and at most 2 %
# of the files refused when linted into an empty database (register() of a
# first revision); with every table assumed to have rows, precision >= 90 %
# as well.  The corpus files are their authors' work and are not committed
# (test/lint_corpus/README.md): without them (test/lint_corpus/files/ or
# $LINT_CORPUS) this test says so and passes.  A few seconds.
set -euo pipefail
cd "$(dirname "$0")/../lint_corpus"
dir=${LINT_CORPUS:-files}
if ! ls "$dir"/*.sql >/dev/null 2>&1; then
	echo "lint corpus not present in test/lint_corpus/$dir: skipped (see test/lint_corpus/README.md)"
	exit 0
fi
python3 evaluate.py --check --max-refused=2.0 "$dir" | grep -E '^(files|error-severity|refused)'
python3 evaluate.py --check --assume-rows "$dir" | grep -E '^(error-severity|refused)' | sed 's/^/assuming rows: /'
