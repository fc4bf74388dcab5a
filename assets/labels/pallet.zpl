{{/* Pallet label, 4 x 6 in (812 x 1218 dots at 203 dpi): the SSCC as a
     large GS1-128 with its human-readable text, the content's GTIN, lot,
     expiry and the number of cases, and a GS1 DataMatrix of Label.Data.
     Fields: product, gtin, lot, expiry, count, sscc (18 digits). */ -}}
^XA
^CI28
^PW812
^LL1218
^LH0,0
^FO40,40^A0N,48,48^FDPALLET^FS
^FO40,110^A0N,36,36^FH^FD{{text .Fields.product}}^FS
^FO40,170^A0N,30,30^FH^FDCONTENT GTIN {{text .Fields.gtin}}^FS
^FO40,210^A0N,30,30^FH^FDLOT {{text .Fields.lot}}   EXP {{text .Fields.expiry}}^FS
^FO40,250^A0N,30,30^FH^FDCASES {{text .Fields.count}}^FS
^FO40,320^BXN,8,200,,,,_^FH\^FD_1{{dm .Data}}^FS
^FO60,800^BY4^BCN,240,Y,N,N,D^FD(00){{digits .Fields.sscc}}^FS
^PQ1
^XZ
