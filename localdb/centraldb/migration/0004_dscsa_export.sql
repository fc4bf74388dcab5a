-- 0004_dscsa_export: indexes for reading a shipment's document.
-- Forward-only: never edit this file once released; add a new one instead.
--
-- The packing events of a document are its tree grouped by parent, each
-- parent's children in packing order (link, item): this index hands them
-- to the GROUP BY in that order, without sorting the whole tree, and
-- carries depth, ltime and lstation so that the document is read from it
-- alone (the packing stations are listed from it too).
CREATE INDEX dscsa_shipment_tree_packing ON dscsa_shipment_tree (shipment, parent, link, item, depth, ltime, lstation);
