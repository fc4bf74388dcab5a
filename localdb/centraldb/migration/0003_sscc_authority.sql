-- 0003_sscc_authority: SSCC blocks, and the gate a restore puts on issuance.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- The central is the authority for SSCC serial references as it is for
-- serials: it issues each station blocks of references of a GS1 company
-- prefix that never overlap and are never issued again. sscc_counters
-- holds, per prefix, the first reference never issued nor seen in any
-- station's journal (the watermark); blocks are taken from it upwards.
CREATE TABLE sscc_blocks (
	id         INTEGER PRIMARY KEY,
	prefix     TEXT    NOT NULL,
	first      INTEGER NOT NULL CHECK (first >= 0),
	last       INTEGER NOT NULL CHECK (last >= first),
	holder     TEXT    NOT NULL,
	request_id TEXT    NOT NULL, -- the holder's request; 'journal:<seq>' for a block entered from a station's journal
	created_at TEXT    NOT NULL,
	UNIQUE (holder, request_id)
) STRICT;
CREATE INDEX sscc_blocks_prefix ON sscc_blocks (prefix, first);

CREATE TABLE sscc_counters (
	prefix TEXT    PRIMARY KEY,
	next   INTEGER NOT NULL CHECK (next >= 0)
) STRICT;

-- A store restored from a backup may lack serials and SSCC blocks issued
-- after its snapshot; only the stations' journals still say what they
-- hold. 'linestation restore --central' writes one row per enrolled
-- station, and the authority issues nothing (to stations or the ERP) while
-- a row is left. A station's row goes when a push brings the central up to
-- the station's head (its journal has been re-read), or when an admin
-- accepts that the station is gone ('linestation serve restore-accept').
CREATE TABLE restore_gate (
	station     TEXT PRIMARY KEY REFERENCES stations (id),
	generation  TEXT NOT NULL, -- the backup generation restored
	restored_at TEXT NOT NULL,
	head_seq    INTEGER NOT NULL -- what the snapshot held of the station
) STRICT;
