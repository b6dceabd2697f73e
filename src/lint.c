#include "postgres.h"

#include "schemamig.h"

void
schemamig_lint_register(const char *revision, const char *upgrade,
						List *up_statements, const char *downgrade,
						List *down_statements)
{
}
