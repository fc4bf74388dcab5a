-- 0002_domain: projections of the station domain: products, users,
-- containers, shipments and stock, and order details.
-- Forward-only: never edit this file once released; add 0003_... instead.

ALTER TABLE orders ADD COLUMN expected_yield REAL NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN min_grade TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN voided INTEGER NOT NULL DEFAULT 0;

CREATE INDEX serials_order ON serials (order_id, state);

-- The latest definition of each product (body: station.Product as JSON),
-- and every GTIN of a product (unit and packaging levels) to find it by.
CREATE TABLE products (
	gtin TEXT    PRIMARY KEY,
	body TEXT    NOT NULL,
	seq  INTEGER NOT NULL
) STRICT;

CREATE TABLE product_gtins (
	gtin    TEXT PRIMARY KEY,
	product TEXT NOT NULL REFERENCES products (gtin),
	level   TEXT NOT NULL
) STRICT;

-- Users (body: station.User as JSON) with their credential and sign-in state.
CREATE TABLE users (
	id          TEXT    PRIMARY KEY,
	body        TEXT    NOT NULL,
	badge       TEXT,
	kind        TEXT    NOT NULL DEFAULT '',
	hash        TEXT    NOT NULL DEFAULT '',
	failures    INTEGER NOT NULL DEFAULT 0,
	locked      INTEGER NOT NULL DEFAULT 0,
	lock_reason TEXT    NOT NULL DEFAULT '',
	seq         INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_badge ON users (badge) WHERE badge IS NOT NULL;

-- Bundles, cases and pallets opened at this station (item keys as in aggregation).
CREATE TABLE containers (
	item     TEXT    PRIMARY KEY,
	level    TEXT    NOT NULL,
	order_id TEXT    NOT NULL REFERENCES orders (id),
	capacity INTEGER NOT NULL,
	status   TEXT    NOT NULL,
	partial  INTEGER NOT NULL DEFAULT 0,
	labeled  INTEGER NOT NULL DEFAULT 0,
	seq      INTEGER NOT NULL
) STRICT;
CREATE INDEX containers_order ON containers (order_id, seq);

-- Shipments (body: station.Shipment as JSON) and the items picked into them.
CREATE TABLE shipments (
	id     TEXT    PRIMARY KEY,
	body   TEXT    NOT NULL,
	status TEXT    NOT NULL,
	seq    INTEGER NOT NULL
) STRICT;

CREATE TABLE shipment_items (
	shipment TEXT    NOT NULL REFERENCES shipments (id),
	item     TEXT    NOT NULL,
	seq      INTEGER NOT NULL,
	PRIMARY KEY (shipment, item)
) STRICT;

-- The warehouse status of items that were moved (absent: in stock).
CREATE TABLE stock (
	item     TEXT    PRIMARY KEY,
	status   TEXT    NOT NULL,
	shipment TEXT    NOT NULL DEFAULT '',
	reason   TEXT    NOT NULL DEFAULT '',
	seq      INTEGER NOT NULL
) STRICT;
