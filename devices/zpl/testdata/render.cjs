// render.cjs renders ZPL labels to PNG with zpl-renderer-js (the zebrash
// renderer compiled to WebAssembly), an implementation independent of ours.
// stdin: a JSON array of {zpl, widthMm, heightMm, out}; each PNG is written
// to its out path. The first argument is the folder holding node_modules.
const path = require("node:path");
const fs = require("node:fs");
const { ready } = require(path.resolve(process.argv[2], "node_modules", "zpl-renderer-js"));

(async () => {
  const jobs = JSON.parse(fs.readFileSync(0, "utf8"));
  const { api } = await ready;
  for (const j of jobs) {
    const png = await api.zplToBase64Async(j.zpl, j.widthMm, j.heightMm, 8);
    fs.writeFileSync(j.out, Buffer.from(png, "base64"));
  }
  process.exit(0);
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
