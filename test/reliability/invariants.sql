-- Violations of schemamig's catalog invariants, one row each; no rows means
-- consistent.  Used by the reliability tests after concurrency, crashes,
-- restores, failover and hostile input.
WITH ap AS (
	SELECT a.revision, a.seq, r.parents, r.revision IS NOT NULL AS registered
	FROM schemamig.applied a LEFT JOIN schemamig.revision r USING (revision)
), last_event AS (
	SELECT DISTINCT ON (revision) revision, action, id
	FROM schemamig.journal
	WHERE action <> 'stamp' AND revision IS NOT NULL
	ORDER BY revision, id DESC
), last_stamp AS (
	SELECT coalesce(max(id), 0) AS id FROM schemamig.journal WHERE action = 'stamp'
)
SELECT 'applied revision ' || revision || ' is not registered' FROM ap WHERE NOT registered
UNION ALL
SELECT 'applied set not closed: ' || a.revision || ' is applied, its parent ' || p || ' is not'
FROM ap a, unnest(a.parents) p
WHERE NOT EXISTS (SELECT 1 FROM schemamig.applied b WHERE b.revision = p)
UNION ALL
SELECT 'applied order: parent ' || p || ' has a later seq than its child ' || a.revision
FROM ap a, unnest(a.parents) p JOIN schemamig.applied b ON b.revision = p
WHERE b.seq > a.seq
UNION ALL
SELECT 'parent ' || p || ' of ' || r.revision || ' is not registered'
FROM schemamig.revision r, unnest(r.parents) p
WHERE NOT EXISTS (SELECT 1 FROM schemamig.revision x WHERE x.revision = p)
UNION ALL
-- since the last stamp, the journal's last word on a revision is the truth:
-- a downgrade leaves it unapplied; every other event naming it (upgrade, a
-- 'repair' of an applied revision's script, an Alembic 'move', baseline())
-- leaves it applied
SELECT 'journal says ' || e.revision || ' was ' || e.action || 'd last (event ' || e.id
	   || '), the applied set disagrees'
FROM last_event e, last_stamp s
WHERE e.id > s.id
  AND (e.action <> 'downgrade') <> EXISTS (SELECT 1 FROM schemamig.applied a WHERE a.revision = e.revision)
UNION ALL
SELECT 'applied revision ' || a.revision || ' has no upgrade event since the last stamp and no stamp covers it'
FROM schemamig.applied a, last_stamp s
WHERE s.id = 0 AND NOT EXISTS (SELECT 1 FROM last_event e WHERE e.revision = a.revision AND e.action = 'upgrade')
UNION ALL
-- every logged statement of a revision belongs to a journal event of the same transaction
SELECT 'ddl_log row ' || l.id || ' (' || l.direction || ' of ' || coalesce(l.revision, '-')
	   || ') has no journal event in its transaction'
FROM schemamig.ddl_log l
WHERE l.direction IN ('upgrade', 'downgrade', 'client')
  AND NOT EXISTS (SELECT 1 FROM schemamig.revision r WHERE r.revision = l.revision
				  AND NOT CASE l.direction WHEN 'downgrade' THEN r.downgrade_transactional
							ELSE r.upgrade_transactional END)
  AND NOT EXISTS (SELECT 1 FROM schemamig.journal j
				  WHERE j.revision = l.revision AND j.xid = l.xid
					AND j.action = CASE l.direction WHEN 'downgrade' THEN 'downgrade' ELSE 'upgrade' END)
UNION ALL
-- a statement of a non-transactional revision (the step protocol) runs in a
-- transaction of its own: its journal event is the later finish_step(), or
-- the revision is still in progress
SELECT 'ddl_log row ' || l.id || ' (step of ' || l.revision || ') has neither a later journal event nor progress'
FROM schemamig.ddl_log l JOIN schemamig.revision r USING (revision)
WHERE l.direction IN ('upgrade', 'downgrade')
  AND NOT CASE l.direction WHEN 'downgrade' THEN r.downgrade_transactional ELSE r.upgrade_transactional END
  AND NOT EXISTS (SELECT 1 FROM schemamig.journal j
				  WHERE j.revision = l.revision AND j.action = l.direction
					AND j.at + coalesce(j.duration, interval '0') >= l.executed_at)
  AND NOT EXISTS (SELECT 1 FROM schemamig.progress p
				  WHERE p.revision = l.revision AND p.direction = l.direction)
  AND NOT EXISTS (SELECT 1 FROM schemamig.journal j WHERE j.action = 'stamp' AND j.at >= l.executed_at)
UNION ALL
-- (rows of the scripts as registered now: an unapplied revision's scripts
-- may be replaced, and the log keeps the history of the old ones)
SELECT 'ddl_log row ' || l.id || ' has statement_no ' || l.statement_no || ' outside its script'
FROM schemamig.ddl_log l JOIN schemamig.revision r USING (revision)
WHERE l.direction IN ('upgrade', 'downgrade')
  AND l.executed_at >= r.registered_at
  AND (l.statement_no < 1 OR l.statement_no > CASE l.direction WHEN 'upgrade' THEN r.upgrade_statements
												ELSE r.downgrade_statements END)
UNION ALL
SELECT 'key sequence ' || s.seq || ' is behind its table'
FROM (VALUES ('schemamig.journal_id_seq', (SELECT max(id) FROM schemamig.journal)),
			 ('schemamig.ddl_log_id_seq', (SELECT max(id) FROM schemamig.ddl_log)),
			 ('schemamig.revision_seq', (SELECT max(seq) FROM schemamig.revision)),
			 ('schemamig.applied_seq', (SELECT max(seq) FROM schemamig.applied))) s(seq, maxkey)
WHERE s.maxkey > (SELECT last_value FROM pg_sequences
				  WHERE schemaname || '.' || sequencename = s.seq);
