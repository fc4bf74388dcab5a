-- 0011_sscc_ranges: the blocks of SSCC serial references this station holds.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- A projection of sscc.range_received events: the central service gives a
-- station blocks of serial references per GS1 company prefix, and the
-- station makes SSCCs only from the blocks it holds. Blocks of a prefix
-- never overlap (apply refuses one that would).
CREATE TABLE sscc_ranges (
	prefix TEXT    NOT NULL,
	first  INTEGER NOT NULL CHECK (first >= 0),
	last   INTEGER NOT NULL CHECK (last >= first),
	block  INTEGER NOT NULL,
	seq    INTEGER NOT NULL,
	PRIMARY KEY (prefix, first)
) STRICT;
