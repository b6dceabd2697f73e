#!/bin/bash
# plan(execute => false) and plan(execute => true) agree over every
# statement of the test suite: test/plan_compare/statements.jsonl lists
# them (captured from a run of the suite by test/plan_compare/capture.sh;
# regenerate it when tests change), replay.py replays them in scratch
# databases and requires, wherever the prediction is not 'unknown', the same
# strongest lock per relation and the same set of rewritten tables: each
# statement as a revision of its own, then each database's statements as
# one revision (what earlier statements hold and create).
set -euo pipefail
cd "$(dirname "$0")/../.."
/usr/bin/python3 test/plan_compare/replay.py test/plan_compare/statements.jsonl "plan_cmp_$$"
