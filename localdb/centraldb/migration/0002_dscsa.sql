-- 0002_dscsa: the DSCSA exchange with trading partners (uplink/dscsa).
-- Forward-only: never edit this file once released; add 0003_... instead.
-- Plain SQL, like 0001.

-- How far the exchange has followed the station journals (events.feed).
CREATE TABLE dscsa_cursor (
	name TEXT    PRIMARY KEY,
	feed INTEGER NOT NULL
) STRICT;
INSERT INTO dscsa_cursor (name, feed) VALUES ('journal', 0);

-- Location master data (ours and partners'), by GLN; data is dscsa.Location.
CREATE TABLE dscsa_locations (
	gln        TEXT PRIMARY KEY,
	data       TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

-- Trading partners; data is dscsa.Partner.
CREATE TABLE dscsa_partners (
	id         TEXT PRIMARY KEY,
	gln        TEXT NOT NULL UNIQUE,
	data       TEXT NOT NULL,
	updated_at TEXT NOT NULL
) STRICT;

-- Partners' credentials, by hash only.
CREATE TABLE dscsa_partner_credentials (
	token_hash TEXT PRIMARY KEY,
	partner    TEXT NOT NULL REFERENCES dscsa_partners (id),
	created_at TEXT NOT NULL,
	revoked_at TEXT NOT NULL DEFAULT ''
) STRICT;

-- Shipments as the station journals record them; data is station.Shipment.
CREATE TABLE dscsa_shipments (
	id           TEXT    PRIMARY KEY,
	station      TEXT    NOT NULL,
	data         TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	created_feed INTEGER NOT NULL,
	created_at   TEXT    NOT NULL,
	shipped_at   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- The items picked into a shipment (its top level), in picking order.
CREATE TABLE dscsa_shipment_items (
	shipment TEXT    NOT NULL,
	item     TEXT    NOT NULL,
	feed     INTEGER NOT NULL,
	PRIMARY KEY (shipment, item)
) STRICT, WITHOUT ROWID;
CREATE INDEX dscsa_shipment_items_item ON dscsa_shipment_items (item);

-- What a shipment held when it shipped: every pack, case and pallet of its
-- trees (depth 0: the picked items), with what its document needs: when
-- and where each was commissioned (an SSCC: allocated; NULL when the
-- repository has no record), its lot and expiry, and when and where it was
-- packed into its parent (link: the packing event's feed).
CREATE TABLE dscsa_shipment_tree (
	shipment  TEXT    NOT NULL,
	item      TEXT    NOT NULL,
	sscc      INTEGER NOT NULL, -- 1 for an SSCC, 0 for an SGTIN
	gtin      TEXT    NOT NULL, -- '' for an SSCC
	parent    TEXT    NOT NULL,
	depth     INTEGER NOT NULL,
	link      INTEGER NOT NULL,
	ltime     TEXT    NOT NULL,
	lstation  TEXT    NOT NULL,
	cfeed     INTEGER,
	ctime     TEXT    NOT NULL,
	cstation  TEXT    NOT NULL,
	lot       TEXT    NOT NULL,
	expiry    TEXT    NOT NULL,
	PRIMARY KEY (shipment, item)
) STRICT, WITHOUT ROWID;
-- The document's commissioning events, in order.
CREATE INDEX dscsa_shipment_tree_commissioning ON dscsa_shipment_tree (shipment, sscc, gtin, lot, expiry, cstation, cfeed, ctime);

-- Outbound documents: one per shipped shipment, and its way to the partner.
CREATE TABLE dscsa_deliveries (
	id              INTEGER PRIMARY KEY,
	shipment        TEXT    NOT NULL UNIQUE,
	partner_gln     TEXT    NOT NULL,
	partner         TEXT    NOT NULL DEFAULT '',
	document_id     TEXT    NOT NULL,
	format          TEXT    NOT NULL DEFAULT '',
	status          TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt    TEXT    NOT NULL DEFAULT '',
	last_error      TEXT    NOT NULL DEFAULT '',
	created_at      TEXT    NOT NULL,
	delivered_at    TEXT    NOT NULL DEFAULT '',
	events_recorded INTEGER NOT NULL DEFAULT 0,
	receipt         TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX dscsa_deliveries_due ON dscsa_deliveries (status, next_attempt);

-- The EPCIS event repository: events of documents we sent, captured from
-- partners, derived from station journals, and of receipts here. hash is
-- the CBV 2.0 event hash (deduplication); data the event (dscsa.EncodeEvent).
CREATE TABLE epcis_events (
	id           INTEGER PRIMARY KEY,
	hash         TEXT    NOT NULL UNIQUE,
	event_id     TEXT    NOT NULL,
	type         TEXT    NOT NULL,
	event_time   TEXT    NOT NULL,
	record_time  TEXT    NOT NULL,
	action       TEXT    NOT NULL,
	biz_step     TEXT    NOT NULL,
	disposition  TEXT    NOT NULL,
	read_point   TEXT    NOT NULL,
	biz_location TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	origin       TEXT    NOT NULL,
	partner      TEXT    NOT NULL DEFAULT '',
	data         TEXT    NOT NULL
) STRICT;
CREATE INDEX epcis_events_time ON epcis_events (event_time);
CREATE INDEX epcis_events_origin ON epcis_events (source, origin, id);
CREATE INDEX epcis_events_partner ON epcis_events (partner, id);

-- Every EPC an event names, with its role (epc, child, parent, input, output).
CREATE TABLE epcis_event_epcs (
	epc   TEXT    NOT NULL,
	event INTEGER NOT NULL,
	role  TEXT    NOT NULL,
	PRIMARY KEY (epc, event, role)
) STRICT, WITHOUT ROWID;
CREATE INDEX epcis_event_epcs_event ON epcis_event_epcs (event);

-- Which EPCs a partner may see: those it shipped or received.
CREATE TABLE dscsa_partner_epcs (
	partner TEXT NOT NULL,
	epc     TEXT NOT NULL,
	PRIMARY KEY (partner, epc)
) STRICT, WITHOUT ROWID;
CREATE INDEX dscsa_partner_epcs_epc ON dscsa_partner_epcs (epc);

-- Capture jobs (EPCIS 2.0 REST capture, and the 1.2 XML endpoint).
CREATE TABLE epcis_capture_jobs (
	id          TEXT    PRIMARY KEY,
	partner     TEXT    NOT NULL,
	created_at  TEXT    NOT NULL,
	finished_at TEXT    NOT NULL DEFAULT '',
	running     INTEGER NOT NULL,
	success     INTEGER NOT NULL,
	behaviour   TEXT    NOT NULL,
	format      TEXT    NOT NULL DEFAULT '',
	document_id TEXT    NOT NULL DEFAULT '',
	sender      TEXT    NOT NULL DEFAULT '',
	events      INTEGER NOT NULL DEFAULT 0,
	captured    INTEGER NOT NULL DEFAULT 0,
	duplicates  INTEGER NOT NULL DEFAULT 0,
	error_count INTEGER NOT NULL DEFAULT 0,
	errors      TEXT    NOT NULL DEFAULT '[]',
	spool       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX epcis_capture_jobs_partner ON epcis_capture_jobs (partner, created_at);

-- Goods received against captured documents, with their exception reports.
CREATE TABLE dscsa_receipts (
	id          INTEGER PRIMARY KEY,
	capture     TEXT    NOT NULL,
	received_at TEXT    NOT NULL,
	data        TEXT    NOT NULL
) STRICT;

-- Suspect product investigations and the holds (quarantine) they place.
CREATE TABLE dscsa_investigations (
	id          INTEGER PRIMARY KEY,
	reason      TEXT    NOT NULL,
	description TEXT    NOT NULL,
	subject     TEXT    NOT NULL, -- {"items": [...], "lots": [...]}
	status      TEXT    NOT NULL,
	outcome     TEXT    NOT NULL DEFAULT '',
	note        TEXT    NOT NULL DEFAULT '',
	opened_at   TEXT    NOT NULL,
	opened_by   TEXT    NOT NULL,
	closed_at   TEXT    NOT NULL DEFAULT '',
	closed_by   TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE dscsa_holds (
	id            INTEGER PRIMARY KEY,
	investigation INTEGER NOT NULL REFERENCES dscsa_investigations (id),
	item          TEXT    NOT NULL DEFAULT '', -- an item key, or '' for a lot
	gtin          TEXT    NOT NULL DEFAULT '',
	lot           TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL CHECK (reason IN ('suspect', 'illegitimate', 'recalled')),
	placed_at     TEXT    NOT NULL,
	placed_by     TEXT    NOT NULL,
	released_at   TEXT    NOT NULL DEFAULT '',
	released_by   TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX dscsa_holds_item ON dscsa_holds (item) WHERE released_at = '';
CREATE INDEX dscsa_holds_lot ON dscsa_holds (gtin, lot) WHERE released_at = '';

-- Every verification request and its answer, kept for investigations.
CREATE TABLE dscsa_verifications (
	id        INTEGER PRIMARY KEY,
	at        TEXT    NOT NULL,
	requester TEXT    NOT NULL,
	gtin      TEXT    NOT NULL,
	serial    TEXT    NOT NULL,
	lot       TEXT    NOT NULL,
	expiry    TEXT    NOT NULL,
	req_gln   TEXT    NOT NULL,
	corr_uuid TEXT    NOT NULL,
	context   TEXT    NOT NULL,
	status    INTEGER NOT NULL,
	response  TEXT    NOT NULL
) STRICT;
CREATE INDEX dscsa_verifications_item ON dscsa_verifications (gtin, serial);
