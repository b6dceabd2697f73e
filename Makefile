# schemamig: PGXS build, tests, demo and benchmarks
EXTENSION = schemamig
MODULE_big = schemamig
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = schemamig--0.1.0.sql schemamig--0.2.0.sql schemamig--0.1.0--0.2.0.sql
PGFILEDESC = "schemamig - schema migrations kept, applied and guarded by the database"

REGRESS = graph migrate errors guard reindex review fingerprint fingerprint_majors lint steps alembic review_views review_author review_verify lint_rules lint_rows references deploy seal ledger ledger_2pc drift_memory review_verify_corpus
REGRESS_OPTS = --inputdir=. --outputdir=.

# races: isolationtester specs (specs/<name>.spec, expected/<name>.out)
ISOLATION = concurrent_upgrade register_upgrade step_skip serializable_loser begin_revision alembic_provisional ledger_commit ledger_prepared plan_no_wait lint_rows_locked
TAP_TESTS = 1

PG_CONFIG ?= pg_config
PG_CFLAGS += -Wall -Werror -Wmissing-prototypes
# the library knows its version: the objects of a database must match it
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(dir $(lastword $(MAKEFILE_LIST)))schemamig.control)
PG_CPPFLAGS += -DSCHEMAMIG_VERSION='"$(EXTVERSION)"'

EXTRA_CLEAN = $(OBJS:.o=.d)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# header dependencies: PGXS tracks them only when PostgreSQL was configured
# with --enable-depend (Debian's was not), and an object built against an
# older schemamig.h crashes the server
override CFLAGS += -MMD -MP
-include $(OBJS:.o=.d)

# the client program (client/): its own PGXS Makefile, run as a sub-make
.PHONY: client install-client install-client-link clean-client
all: client
client:
	$(MAKE) -C client PG_CONFIG="$(PG_CONFIG)"
install: install-client
install-client: client
	$(MAKE) -C client PG_CONFIG="$(PG_CONFIG)" install
# Debian's PostgreSQL bindir is not on PATH: link the client once
LINKDIR ?= /usr/local/bin
install-client-link: install-client
	ln -sf "$(DESTDIR)$(bindir)/schemamig" "$(DESTDIR)$(LINKDIR)/schemamig"
clean: clean-client
clean-client:
	$(MAKE) -C client PG_CONFIG="$(PG_CONFIG)" clean

.PHONY: test soak valgrind demo bench indent image
test:
	bash test/run.sh

# longer reliability runs: more concurrency rounds and races, more hostile calls
soak:
	ROUNDS=40 RACE_OPS=300 HOSTILE_CALLS=30000 bash test/run.sh

# pg_regress against a server running under valgrind memcheck (slow)
valgrind:
	bash test/valgrind.sh

demo:
	bash examples/demo.sh

bench:
	bash bench/run.sh

# pgindent layout (tools/pgindent: PostgreSQL 15's pgindent, Debian's
# pg-bsd-indent 2.1.1) with PostgreSQL's typedefs and ours (src/typedefs.list)
INDENT_FILES ?= $(wildcard src/*.c src/*.h)
indent:
	perl tools/pgindent/pgindent --typedefs=tools/pgindent/typedefs.list \
		--list-of-typedefs="$$(cat src/typedefs.list)" $(INDENT_FILES)

# CloudNativePG extension image (PostgreSQL 18, OCI layout + tar in image/out)
image:
	bash image/build.sh
