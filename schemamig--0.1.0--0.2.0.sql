/* schemamig--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION schemamig UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Update from 0.1.0 to 0.2.0.  Every object that schemamig--0.2.0.sql adds
 * after the 0.1.0 part is added here too, section by section, so that an
 * updated database equals a fresh install.
 */

/* ==== architecture (#19) ==== */

-- a NULL revision id is SM007 everywhere, not a silent NULL result
ALTER FUNCTION schemamig.unregister(text) CALLED ON NULL INPUT;
ALTER FUNCTION schemamig.finish_step(text) CALLED ON NULL INPUT;

/* ==== versions and release (#15) ==== */

/* ==== seal the guard (#12) ==== */

/* ==== ledger and drift (#13) ==== */

/* ==== review and lint (#14) ==== */

/* ==== deploy and client program (#17) ==== */

/* ==== alembic on managed clusters (#18) ==== */

/* ==== managed clusters and owner restore (#20) ==== */

/* ==== citus (#16) ==== */

