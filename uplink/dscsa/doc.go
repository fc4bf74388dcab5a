// Package dscsa is the central service's exchange with trading partners
// under the US Drug Supply Chain Security Act (DSCSA), in the formats the
// GS1 US guideline and EPCIS 2.0 define:
//
//   - Outbound: a shipment recorded at a warehouse station becomes, at the
//     central, one EPCIS document for the receiving partner (transaction
//     information and statement): master data of every product and
//     location, commissioning events of every unit and case, packing events
//     of every aggregation level, the shipping event with its purchase order
//     and despatch advice, source and destination lists, and the DSCSA
//     transaction statement in the header. It is written as a stream
//     (bounded memory) and delivered over HTTPS with per-partner
//     credentials, retries with backoff and a stored receipt, or as a file
//     for an AS2/SFTP gateway.
//   - Inbound: partners' documents captured through the EPCIS 2.0 REST
//     capture binding (asynchronous jobs, rollback or proceed) or a
//     synchronous 1.2 XML endpoint, validated event by event with errors
//     that name the event and field; goods received against a captured
//     document, mismatches reported in the Partnership for DSCSA Governance
//     exception schema.
//   - The EPCIS event repository and its query engine (GET /events filters,
//     pagination), where a partner sees only events about products it
//     shipped or received.
//   - Verification of product identifiers per the GS1 Lightweight
//     Messaging Standard, every request and answer kept.
//   - Suspect and illegitimate product: holds (quarantine of a pack, case or
//     lot), investigations and their outcome, notification data.
//   - Tracing: the chain of custody of a product identifier, as JSON and as
//     an EPCIS document.
//
// An Exchange does all of this over a Store (localdb/centraldb implements
// it). It follows the central's feed of station journals to learn of
// shipments and receipts; the station journals themselves are never changed.
//
// Quarantine decision: a hold placed at the central cannot stop a station
// that is offline from shipping, so the central enforces it where it has
// the power to: a shipment that holds any held pack, case or lot gets no
// transaction information (its document is held, not delivered, and the
// delivery list says why), which under DSCSA means the partner cannot accept
// it; verification requests about held product answer with the hold.
package dscsa
