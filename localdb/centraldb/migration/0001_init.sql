-- 0001_init: the central service's store.
-- Forward-only: never edit this file once released; add 0002_... instead.
-- Plain SQL on purpose (no SQLite-only features beyond STRICT and WITHOUT
-- ROWID, which a PostgreSQL store drops), so that a PostgreSQL store can
-- follow the same schema.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('format', 'linestation.central');

-- Stations, their enrollment codes and every credential, by hash only:
-- the central never stores a secret it could leak.
CREATE TABLE stations (
	id          TEXT    PRIMARY KEY,
	line        TEXT    NOT NULL,
	created_at  TEXT    NOT NULL,
	enrolled_at TEXT    NOT NULL DEFAULT '',
	head_seq    INTEGER NOT NULL DEFAULT 0,
	head_hash   TEXT    NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000',
	head_time   TEXT    NOT NULL DEFAULT '',
	last_sync   TEXT    NOT NULL DEFAULT '',
	report      TEXT    NOT NULL DEFAULT '{}', -- the station's last uplink.OutboxReport, JSON
	conflicts   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE enrollment_codes (
	code_hash  TEXT PRIMARY KEY, -- hex SHA-256 of the code
	station    TEXT NOT NULL REFERENCES stations (id),
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE clients (
	name       TEXT PRIMARY KEY, -- an ERP or integration client
	role       TEXT NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

CREATE TABLE credentials (
	token_hash TEXT PRIMARY KEY, -- hex SHA-256 of the bearer token
	principal  TEXT NOT NULL,    -- the station id or client name
	role       TEXT NOT NULL CHECK (role IN ('station', 'erp')),
	created_at TEXT NOT NULL,
	revoked_at TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX credentials_principal ON credentials (principal, role);

-- Every station's journal, exactly as the station recorded it (the hash
-- covers every column but feed and received_at). feed numbers events in the
-- order the central stored them: the ERP's events feed cursor.
CREATE TABLE events (
	feed        INTEGER PRIMARY KEY,
	station     TEXT    NOT NULL,
	seq         INTEGER NOT NULL,
	id          TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	payload     TEXT    NOT NULL,
	time        TEXT    NOT NULL,
	offset_ns   INTEGER NOT NULL,
	clock_state TEXT    NOT NULL,
	user        TEXT    NOT NULL,
	prev_hash   TEXT    NOT NULL,
	hash        TEXT    NOT NULL,
	received_at TEXT    NOT NULL,
	item        TEXT,             -- the one item (key) the event is about, when it is about one: its history index
	UNIQUE (station, seq)
) STRICT;
CREATE INDEX events_item ON events (item) WHERE item IS NOT NULL;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;

-- The repository: the current state of every serial, SSCC and aggregation
-- across all stations, applied from the journals as they are stored. feed
-- columns name the event that last changed a row.
CREATE TABLE serials (
	gtin          TEXT    NOT NULL,
	serial        TEXT    NOT NULL,
	station       TEXT    NOT NULL, -- the station it was reserved for
	state         TEXT    NOT NULL,
	order_id      TEXT,
	reason        TEXT    NOT NULL DEFAULT '',
	reserved_feed INTEGER NOT NULL,
	feed          INTEGER NOT NULL,
	PRIMARY KEY (gtin, serial)
) STRICT, WITHOUT ROWID;

CREATE TABLE ssccs (
	sscc     TEXT    PRIMARY KEY,
	level    TEXT    NOT NULL,
	order_id TEXT,
	station  TEXT    NOT NULL,
	feed     INTEGER NOT NULL
) STRICT;

-- A child has one parent at most (primary key). Items are station.Item keys.
CREATE TABLE aggregation (
	child   TEXT    PRIMARY KEY,
	parent  TEXT    NOT NULL,
	level   TEXT    NOT NULL,
	station TEXT    NOT NULL,
	feed    INTEGER NOT NULL
) STRICT;
CREATE INDEX aggregation_parent ON aggregation (parent, feed);

-- Which events concern which item, for events about several items
-- (aggregation); events about one item name it in events.item, and a
-- serial's reservation is serials.reserved_feed.
CREATE TABLE item_history (
	item TEXT    NOT NULL,
	feed INTEGER NOT NULL,
	PRIMARY KEY (item, feed)
) STRICT, WITHOUT ROWID;

-- What each station recorded for each order.
CREATE TABLE station_orders (
	order_id       TEXT    NOT NULL,
	station        TEXT    NOT NULL,
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
	voided         INTEGER NOT NULL DEFAULT 0,
	feed           INTEGER NOT NULL,
	PRIMARY KEY (order_id, station)
) STRICT;

CREATE TABLE station_order_rejects (
	order_id TEXT    NOT NULL,
	station  TEXT    NOT NULL,
	reason   TEXT    NOT NULL,
	count    INTEGER NOT NULL,
	PRIMARY KEY (order_id, station, reason)
) STRICT;

-- Events the repository could not apply (e.g. the same serial reserved at
-- two stations in standalone mode). The event is stored all the same: the
-- station's journal is the record; this table is for people to investigate.
CREATE TABLE conflicts (
	feed    INTEGER PRIMARY KEY,
	station TEXT    NOT NULL,
	seq     INTEGER NOT NULL,
	problem TEXT    NOT NULL
) STRICT;

-- Master data from the ERP. changes numbers every change for the stations'
-- pull (journal-style); line and state let a station see only its orders.
CREATE TABLE changes (
	seq   INTEGER PRIMARY KEY,
	kind  TEXT    NOT NULL,
	key   TEXT    NOT NULL,
	line  TEXT    NOT NULL DEFAULT '',
	state TEXT    NOT NULL DEFAULT '',
	data  TEXT    NOT NULL,
	at    TEXT    NOT NULL
) STRICT;

CREATE TABLE products (
	gtin       TEXT    PRIMARY KEY,
	data       TEXT    NOT NULL,
	updated_at TEXT    NOT NULL,
	change     INTEGER NOT NULL
) STRICT;

CREATE TABLE orders (
	id         TEXT    PRIMARY KEY,
	gtin       TEXT    NOT NULL REFERENCES products (gtin),
	lot        TEXT    NOT NULL,
	line       TEXT    NOT NULL,
	state      TEXT    NOT NULL,
	data       TEXT    NOT NULL,
	updated_at TEXT    NOT NULL,
	change     INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_line ON orders (line, state);

CREATE TABLE users (
	id         TEXT    PRIMARY KEY,
	data       TEXT    NOT NULL,
	updated_at TEXT    NOT NULL,
	change     INTEGER NOT NULL
) STRICT;

-- The serial authority: every serial ever issued per GTIN, to whom, and
-- what became of it. The primary key makes it impossible to issue a serial
-- twice, whoever asks and however they race.
CREATE TABLE reservations (
	id         INTEGER PRIMARY KEY,
	gtin       TEXT    NOT NULL,
	holder     TEXT    NOT NULL, -- a station id, or erp:<client>
	request_id TEXT    NOT NULL,
	count      INTEGER NOT NULL,
	created_at TEXT    NOT NULL,
	UNIQUE (holder, request_id)
) STRICT;
CREATE INDEX reservations_holder ON reservations (holder, id);

CREATE TABLE issued_serials (
	gtin        TEXT    NOT NULL,
	serial      TEXT    NOT NULL,
	holder      TEXT    NOT NULL,
	reservation INTEGER REFERENCES reservations (id), -- NULL for serials a station made itself (standalone mode)
	state       TEXT    NOT NULL CHECK (state IN ('reserved', 'returned', 'voided')),
	reason      TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (gtin, serial)
) STRICT, WITHOUT ROWID;
CREATE INDEX issued_serials_reservation ON issued_serials (reservation);

CREATE TABLE serial_counters (
	gtin   TEXT    PRIMARY KEY,
	issued INTEGER NOT NULL, -- serials ever issued for the GTIN (density rule)
	next   INTEGER NOT NULL  -- the next sequential number to try
) STRICT;
