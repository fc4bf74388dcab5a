{{/* Case label, 4 x 6 in (812 x 1218 dots at 203 dpi): product lines, a GS1
     DataMatrix (Label.Data) and a GS1-128 of the SSCC with its
     human-readable text. Fields: product, gtin, lot, expiry, count, sscc
     (18 digits). */ -}}
^XA
^CI28
^PW812
^LL1218
^LH0,0
^FO40,40^A0N,40,40^FH^FD{{text .Fields.product}}^FS
^FO40,110^A0N,30,30^FH^FDGTIN {{text .Fields.gtin}}^FS
^FO40,150^A0N,30,30^FH^FDLOT {{text .Fields.lot}}   EXP {{text .Fields.expiry}}^FS
^FO40,190^A0N,30,30^FH^FDQTY {{text .Fields.count}}^FS
^FO40,260^BXN,8,200,,,,_^FH\^FD_1{{dm .Data}}^FS
^FO60,760^BY3^BCN,200,Y,N,N,D^FD(00){{digits .Fields.sscc}}^FS
^PQ1
^XZ
