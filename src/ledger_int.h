/*-------------------------------------------------------------------------
 *
 * ledger_int.h
 *		What the ledger's files share among themselves (ledger.c appends
 *		rows, ledger_encode.c has the canonical encoding, ledger_link.c
 *		the links, ledger_verify.c checks); the rest of schemamig uses
 *		schemamig.h.
 *
 * IDENTIFICATION
 *		src/ledger_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_LEDGER_INT_H
#define SCHEMAMIG_LEDGER_INT_H

#include "common/cryptohash.h"
#include "lib/stringinfo.h"
#include "utils/rel.h"

/* How a column's value is encoded */
typedef enum EncKind
{
	ENC_TEXT,
	ENC_NAME,
	ENC_INT2,
	ENC_INT4,
	ENC_INT8,
	ENC_XID8,
	ENC_BOOL,
	ENC_TIMESTAMP,
	ENC_INTERVAL,
	ENC_JSONB,
	ENC_BYTEA,
	ENC_OUTPUT
} EncKind;

typedef struct EncColumn
{
	int			attno;			/* 0-based */
	const char *name;
	int			namelen;
	int			tag;			/* 1-based in known_columns, 0: unknown */
	EncKind		kind;
	Oid			typoutput;
	int16		typlen;
	bool		typbyval;
} EncColumn;

/*
 * The previous row of a batch and table, column by column (by position in
 * the plan): the raw bytes of each value, for "same as before".
 */
typedef struct PrevRow
{
	bool		valid;
	int			ncolumns;
	int		   *off;			/* into bytes; -1: NULL */
	int		   *len;
	StringInfoData bytes;
} PrevRow;

/* The encoding plan of one of the three tables, by relation */
typedef struct TablePlan
{
	Oid			relid;			/* InvalidOid: to be built */
	const char *table;			/* "ddl_log", "journal", "ledger" */
	int			ncolumns;
	EncColumn  *columns;		/* sorted by name, hash column left out */
	int			hash_att;		/* ledger_hash (hash for links), -1 if absent */
	int			batch_att;		/* ledger_batch (batch for links), -1 if
								 * absent */
	int			id_att;			/* id (seq for links) */
	int			direction_att;	/* ddl_log.direction, -1 elsewhere */
} TablePlan;

extern TablePlan *ledger_table_plan(Relation rel, int which);
extern void ledger_encode_row(TablePlan *plan, Datum *values, bool *nulls, StringInfo buf,
							  PrevRow *prev);
extern uint64 ledger_row_locator(StringInfo enc, uint64 prev);
extern void ledger_frame(uint8 *b, int len);
extern void ledger_prevrow_copy(PrevRow *dst, PrevRow *src);
extern void ledger_prevrow_free(PrevRow *prev);
extern void ledger_sha_update(pg_cryptohash_ctx *ctx, const void *data, size_t len);

#endif							/* SCHEMAMIG_LEDGER_INT_H */
