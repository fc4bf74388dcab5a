-- 0010_outbox: the uplink's acknowledged-seq cursor.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- The outbox is the journal past acked_seq: every event the central service
-- has not yet confirmed holding. One row; acked_hash is the hash of the event
-- at acked_seq as the central reported it (GenesisHash while nothing is
-- acknowledged), acked_at when the central last answered (TimeFormat text,
-- '' before the first answer). pulled_seq is the last master-data change
-- pulled from the central and applied here. It is not a projection: it
-- records what the central said, which the journal cannot tell, so rebuild
-- leaves it alone.
CREATE TABLE outbox (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	acked_seq  INTEGER NOT NULL CHECK (acked_seq >= 0),
	acked_hash TEXT    NOT NULL,
	acked_at   TEXT    NOT NULL,
	pulled_seq INTEGER NOT NULL DEFAULT 0 CHECK (pulled_seq >= 0)
) STRICT;
INSERT INTO outbox (id, acked_seq, acked_hash, acked_at)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '');
