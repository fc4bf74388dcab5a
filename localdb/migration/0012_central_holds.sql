-- 0012_central_holds: the central service's holds in force at this station.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- A projection of stock.held and stock.hold_released events: the central
-- places holds on a pack, case or pallet (item) or on a whole lot (gtin,
-- lot) for a suspect product investigation, and the station refuses to
-- pick or ship what they name. A released hold's row is deleted. A lot
-- hold applies to packs that do not exist yet, so it cannot be a row of
-- stock, which is keyed by item.
CREATE TABLE central_holds (
	hold          INTEGER PRIMARY KEY,   -- the central's hold id
	investigation INTEGER NOT NULL,
	item          TEXT    NOT NULL DEFAULT '', -- an item key, or '' for a lot
	gtin          TEXT    NOT NULL DEFAULT '',
	lot           TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL,
	placed_by     TEXT    NOT NULL DEFAULT '',
	seq           INTEGER NOT NULL
) STRICT;
CREATE INDEX central_holds_item ON central_holds (item) WHERE item <> '';
CREATE INDEX central_holds_lot ON central_holds (gtin, lot) WHERE item = '';
