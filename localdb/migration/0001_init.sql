-- 0001_init: the station journal and its projections.
-- Forward-only: never edit this file once released; add 0002_... instead.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('format', 'linestation.ledger');

-- The journal: append-only, hash-chained (see station.Event.ComputeHash).
-- time is station.TimeFormat text (UTC, nine fraction digits).
CREATE TABLE journal (
	seq         INTEGER PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	station     TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	payload     TEXT    NOT NULL,
	time        TEXT    NOT NULL,
	offset_ns   INTEGER NOT NULL,
	clock_state TEXT    NOT NULL,
	user        TEXT    NOT NULL,
	prev_hash   TEXT    NOT NULL,
	hash        TEXT    NOT NULL
) STRICT;

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN
	SELECT RAISE(ABORT, 'journal is append-only: UPDATE refused');
END;

CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN
	SELECT RAISE(ABORT, 'journal is append-only: DELETE refused');
END;

-- Projections: derived from the journal alone, written in the same
-- transaction as each event, rebuilt by 'linestation ledger rebuild'.
-- seq columns hold the seq of the event that last changed the row.

CREATE TABLE orders (
	id             TEXT    PRIMARY KEY,
	gtin           TEXT    NOT NULL,
	lot            TEXT    NOT NULL,
	expiry         TEXT    NOT NULL,
	quantity       INTEGER NOT NULL,
	line           TEXT    NOT NULL,
	state          TEXT    NOT NULL,
	allocated      INTEGER NOT NULL DEFAULT 0,
	printed        INTEGER NOT NULL DEFAULT 0,
	verified       INTEGER NOT NULL DEFAULT 0,
	commissioned   INTEGER NOT NULL DEFAULT 0,
	rejected       INTEGER NOT NULL DEFAULT 0,
	decommissioned INTEGER NOT NULL DEFAULT 0,
	sampled        INTEGER NOT NULL DEFAULT 0,
	seq            INTEGER NOT NULL
) STRICT;

CREATE TABLE order_rejects (
	order_id TEXT    NOT NULL REFERENCES orders (id),
	reason   TEXT    NOT NULL,
	count    INTEGER NOT NULL,
	PRIMARY KEY (order_id, reason)
) STRICT;

-- A serial is issued once per GTIN, for ever: the primary key refuses a
-- second reservation of the same (gtin, serial).
CREATE TABLE serials (
	gtin     TEXT    NOT NULL,
	serial   TEXT    NOT NULL,
	state    TEXT    NOT NULL,
	order_id TEXT    REFERENCES orders (id),
	reason   TEXT    NOT NULL DEFAULT '',
	seq      INTEGER NOT NULL,
	PRIMARY KEY (gtin, serial)
) STRICT;
CREATE INDEX serials_available ON serials (gtin) WHERE state = 'available';

CREATE TABLE pools (
	gtin      TEXT    PRIMARY KEY,
	reserved  INTEGER NOT NULL DEFAULT 0,
	available INTEGER NOT NULL DEFAULT 0,
	allocated INTEGER NOT NULL DEFAULT 0,
	returned  INTEGER NOT NULL DEFAULT 0,
	voided    INTEGER NOT NULL DEFAULT 0,
	seq       INTEGER NOT NULL
) STRICT;

CREATE TABLE ssccs (
	sscc     TEXT    PRIMARY KEY,
	level    TEXT    NOT NULL,
	order_id TEXT    REFERENCES orders (id),
	seq      INTEGER NOT NULL
) STRICT;

-- The aggregation tree: a child has one parent at most (primary key).
-- Items are station.Item keys: (01)GTIN(21)SERIAL or (00)SSCC.
CREATE TABLE aggregation (
	child  TEXT    PRIMARY KEY,
	parent TEXT    NOT NULL,
	level  TEXT    NOT NULL,
	seq    INTEGER NOT NULL
) STRICT;
CREATE INDEX aggregation_parent ON aggregation (parent, seq);
