// packml-server.js: an independent OPC UA server for the driver's contract
// tests, built on node-opcua (the npm package, not written here). It exposes a
// PackML-like unit with the node ids of the driver's defaults (DefaultNodes):
// state, mode, counters, stop reason, the PackML command methods, PackTags
// command tags, and a reject gate, with a small PackML state machine.
//
//   node packml-server.js PORT PKI_DIR [UNIT]
//
// stdout: "ready <endpoint>" once listening, "reject <unit>" for each reject
// order, "ok" or "error <text>" after each stdin line.
// stdin, one line each:
//   produce <processed> <defective>   add to the counters
//   fault <Stop|Hold|Abort> <id> <message...>   trip with a stop reason
//   command <Name>                    run a PackML command, as the HMI would
"use strict";

const path = require("path");
const readline = require("readline");
const {
  OPCUAServer, OPCUACertificateManager, Variant, DataType, StatusCodes,
  MessageSecurityMode, SecurityPolicy, nodesets,
} = require("node-opcua");

const port = parseInt(process.argv[2], 10);
const pkiDir = process.argv[3];
const unitName = process.argv[4] || "Line1";
const NS = "http://opcfoundation.org/UA/PackML/";

// PackML states and commands (numbers: DOMAIN.md; PackTags CntrlCmd).
const S = {
  Clearing: 1, Stopped: 2, Starting: 3, Idle: 4, Suspended: 5, Execute: 6, Stopping: 7, Aborting: 8,
  Aborted: 9, Holding: 10, Held: 11, Unholding: 12, Suspending: 13, Unsuspending: 14, Resetting: 15,
  Completing: 16, Complete: 17,
};
const commands = ["", "Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear", "ToComplete"];
const actingTime = 20; // ms

// target returns the acting state cmd leads to from state, or 0.
function target(state, cmd) {
  switch (cmd) {
    case "Start": return state === S.Idle ? S.Starting : 0;
    case "Hold": return [S.Execute, S.Starting, S.Suspending, S.Suspended, S.Unsuspending, S.Unholding].includes(state) ? S.Holding : 0;
    case "Unhold": return state === S.Held ? S.Unholding : 0;
    case "Suspend": return state === S.Execute ? S.Suspending : 0;
    case "Unsuspend": return state === S.Suspended ? S.Unsuspending : 0;
    case "ToComplete": return state === S.Execute ? S.Completing : 0;
    case "Reset": return state === S.Stopped || state === S.Complete ? S.Resetting : 0;
    case "Stop": return [S.Clearing, S.Stopped, S.Stopping, S.Aborting, S.Aborted].includes(state) ? 0 : S.Stopping;
    case "Abort": return state === S.Aborting || state === S.Aborted ? 0 : S.Aborting;
    case "Clear": return state === S.Aborted ? S.Clearing : 0;
  }
  return 0;
}
const completes = {
  [S.Starting]: S.Execute, [S.Unholding]: S.Execute, [S.Unsuspending]: S.Execute, [S.Holding]: S.Held,
  [S.Suspending]: S.Suspended, [S.Completing]: S.Complete, [S.Resetting]: S.Idle, [S.Stopping]: S.Stopped,
  [S.Clearing]: S.Stopped, [S.Aborting]: S.Aborted,
};

async function main() {
  const certificateManager = new OPCUACertificateManager({
    rootFolder: path.join(pkiDir, "pki"), automaticallyAcceptUnknownCertificate: true,
  });
  const server = new OPCUAServer({
    port, hostname: "127.0.0.1", resourcePath: "", nodeset_filename: [nodesets.standard],
    serverCertificateManager: certificateManager,
    securityModes: [MessageSecurityMode.None], securityPolicies: [SecurityPolicy.None], allowAnonymous: true,
    buildInfo: { productName: "packml-server.js (linestation contract test)" },
  });
  await server.initialize();

  const as = server.engine.addressSpace;
  const ns = as.getNamespace(NS) || as.registerNamespace(NS);
  const id = (suffix) => "s=" + unitName + (suffix ? "." + suffix : "");
  const folder = ns.addFolder(as.rootFolder.objects, { browseName: "PackMLObjects", nodeId: "s=PackMLObjects" });
  const unit = ns.addObject({ organizedBy: folder, browseName: unitName, nodeId: id("") });
  const objects = {};
  const objectFor = (suffix) => {
    const parts = suffix.split(".").slice(0, -1);
    let parent = unit, p = "";
    for (const part of parts) {
      p = p ? p + "." + part : part;
      if (!objects[p]) objects[p] = ns.addObject({ componentOf: parent, browseName: part, nodeId: id(p) });
      parent = objects[p];
    }
    return parent;
  };

  let state = S.Stopped, mode = 1, processed = 0, defective = 0, reason = { id: 0, message: "" }, cntrlCmd = 0;
  let timer = null;

  const vars = {};
  const readOnly = (suffix, dataType, value) => {
    vars[suffix] = ns.addVariable({
      componentOf: objectFor(suffix), browseName: suffix.split(".").pop(), nodeId: id(suffix),
      dataType, value: new Variant({ dataType: DataType[dataType], value }),
    });
  };
  const set = (suffix, dataType, value) => vars[suffix].setValueFromSource(new Variant({ dataType: DataType[dataType], value }));
  readOnly("Status.StateCurrent", "Int32", state);
  readOnly("Status.UnitModeCurrent", "Int32", mode);
  readOnly("Admin.ProdProcessedCount", "Int32", processed);
  readOnly("Admin.ProdDefectiveCount", "Int32", defective);
  readOnly("Admin.StopReason.ID", "Int32", 0);
  readOnly("Admin.StopReason.Message", "String", "");

  const setReason = (r) => {
    reason = r;
    set("Admin.StopReason.ID", "Int32", r.id);
    set("Admin.StopReason.Message", "String", r.message);
  };
  const enter = (s) => {
    state = s;
    set("Status.StateCurrent", "Int32", s);
    if (timer) clearTimeout(timer);
    timer = null;
    const next = completes[s];
    if (next) timer = setTimeout(() => enter(next), actingTime);
  };
  // command runs cmd; r, when given, becomes the stop reason.
  const command = (cmd, r) => {
    const t = target(state, cmd);
    if (!t) return StatusCodes.BadInvalidState;
    if (r) setReason(r);
    else if (cmd === "Reset" || cmd === "Clear") setReason({ id: 0, message: "" });
    enter(t);
    return StatusCodes.Good;
  };
  const reject = (u) => {
    if (!u) return StatusCodes.BadInvalidArgument;
    process.stdout.write("reject " + u + "\n");
    return StatusCodes.Good;
  };

  const writable = (suffix, dataType, onWrite) => {
    ns.addVariable({
      componentOf: objectFor(suffix), browseName: suffix.split(".").pop(), nodeId: id(suffix), dataType,
      accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite", minimumSamplingInterval: 1000,
      value: {
        get: () => new Variant({ dataType: DataType[dataType], value: dataType === "Int32" ? cntrlCmd : dataType === "Boolean" ? false : "" }),
        set: (v) => onWrite(v.value),
      },
    });
  };
  writable("Command.CntrlCmd", "Int32", (v) => { cntrlCmd = v; return StatusCodes.Good; });
  writable("Command.CmdChangeRequest", "Boolean", (v) => (v ? command(commands[cntrlCmd] || "?") : StatusCodes.Good));
  writable("Command.RejectUnit", "String", (v) => reject(v));

  for (const name of commands.slice(1)) {
    const m = ns.addMethod(unit, { browseName: name, nodeId: id(name), inputArguments: [], outputArguments: [] });
    m.bindMethod((args, context, callback) => callback(null, { statusCode: command(name) }));
  }
  const rm = ns.addMethod(unit, {
    browseName: "RejectUnit", nodeId: id("RejectUnit"),
    inputArguments: [{ name: "unit", description: { text: "the unit to reject" }, dataType: DataType.String }],
    outputArguments: [],
  });
  rm.bindMethod((args, context, callback) => callback(null, { statusCode: reject(args[0].value) }));

  await server.start();
  process.stdout.write("ready " + server.getEndpointUrl() + "\n");

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const [verb, ...rest] = line.trim().split(/\s+/);
    let code = StatusCodes.Good;
    switch (verb) {
      case "produce":
        processed += parseInt(rest[0], 10);
        defective += parseInt(rest[1], 10);
        set("Admin.ProdProcessedCount", "Int32", processed);
        set("Admin.ProdDefectiveCount", "Int32", defective);
        break;
      case "fault":
        code = command(rest[0], { id: parseInt(rest[1], 10), message: rest.slice(2).join(" ") });
        break;
      case "command":
        code = command(rest[0]);
        break;
      default:
        code = StatusCodes.BadNotSupported;
    }
    process.stdout.write(code === StatusCodes.Good ? "ok\n" : "error " + code.name + "\n");
  });
  rl.on("close", async () => { await server.shutdown(0); process.exit(0); });
}

main().catch((err) => { process.stderr.write("packml-server.js: " + (err.stack || err) + "\n"); process.exit(1); });
