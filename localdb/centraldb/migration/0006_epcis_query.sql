-- 0006_epcis_query: what the EPCIS query filters and orders events by,
-- beyond the columns of epcis_events.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- The business transactions, sources and destinations each event names
-- (EQ_bizTransaction_TYPE, EQ_source_TYPE, EQ_destination_TYPE), kind
-- 'bt', 'source' or 'dest', type and value as the event stores them (CBV
-- types in URN form). Events stored before are indexed from their stored
-- form ({"v":1,"event":{...}}, the epcis.Event fields by their Go names).
CREATE TABLE epcis_event_links (
	event INTEGER NOT NULL REFERENCES epcis_events (id),
	kind  TEXT    NOT NULL CHECK (kind IN ('bt', 'source', 'dest')),
	type  TEXT    NOT NULL,
	value TEXT    NOT NULL,
	PRIMARY KEY (kind, type, value, event)
) STRICT, WITHOUT ROWID;
CREATE INDEX epcis_event_links_event ON epcis_event_links (event);

INSERT OR IGNORE INTO epcis_event_links (event, kind, type, value)
SELECT e.id, k.kind, json_extract(l.value, '$.Type'), json_extract(l.value, '$.Value')
FROM epcis_events e
JOIN (SELECT 'bt' AS kind, '$.event.BizTransactionList' AS path
	UNION ALL SELECT 'source', '$.event.SourceList'
	UNION ALL SELECT 'dest', '$.event.DestinationList') k
JOIN json_each(e.data, k.path) l
WHERE json_extract(l.value, '$.Type') IS NOT NULL AND json_extract(l.value, '$.Value') IS NOT NULL;

-- orderBy=recordTime (eventTime has epcis_events_time).
CREATE INDEX epcis_events_record ON epcis_events (record_time);
