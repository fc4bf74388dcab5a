{{/* Unit label, 2 x 1.25 in (406 x 254 dots at 203 dpi): GS1 DataMatrix with
     01/17/10/21 and the human-readable lines. Data: Label.Data.
     Fields: product, gtin, lot, expiry, serial. */ -}}
^XA
^CI28
^PW406
^LL254
^LH0,0
^FO16,24^BXN,6,200,,,,_^FH\^FD_1{{dm .Data}}^FS
^FO196,20^A0N,24,24^FH^FD{{text .Fields.product}}^FS
^FO196,60^A0N,22,22^FH^FD(01) {{text .Fields.gtin}}^FS
^FO196,92^A0N,22,22^FH^FD(17) {{text .Fields.expiry}}^FS
^FO196,124^A0N,22,22^FH^FD(10) {{text .Fields.lot}}^FS
^FO196,156^A0N,22,22^FH^FD(21) {{text .Fields.serial}}^FS
^PQ1
^XZ
