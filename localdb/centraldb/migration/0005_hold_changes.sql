-- 0005_hold_changes: holds placed before stations were told of them.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- Since holds reach the stations with their master data, placing or
-- releasing one records a change (kind 'hold', data a dscsa.Hold as JSON).
-- A store from before that has holds in force with no change, which its
-- stations would never learn of, and would let them pick and ship held
-- product. Each such hold gets its change now, as placing it records one.
INSERT INTO changes (kind, key, line, state, data, at)
SELECT 'hold', CAST(h.id AS TEXT), '', '',
	json_object('id', h.id, 'investigation', h.investigation, 'item', h.item, 'gtin', h.gtin, 'lot', h.lot,
		'reason', h.reason, 'placed_at', h.placed_at, 'placed_by', h.placed_by),
	h.placed_at
FROM dscsa_holds h
WHERE h.released_at = ''
	AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.kind = 'hold' AND c.key = CAST(h.id AS TEXT))
ORDER BY h.id;
