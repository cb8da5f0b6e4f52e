#!/usr/bin/env node
// A `solc`-compatible shim over the npm package `solc` (solcjs, the same compiler built to
// WebAssembly). py-solc-x calls it as its solc binary: `--version` and `--standard-json`.
// solcjs' own CLI prints a line before its JSON, which py-solc-x cannot parse.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const searchPaths = [root, path.join(root, "node_modules"), path.join(root, "contracts")];

function findImports(importPath) {
  for (const base of searchPaths) {
    const candidate = path.join(base, importPath);
    if (candidate.startsWith(base) && fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${importPath}` };
}

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (args.includes("--standard-json")) {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => { input += chunk; });
  process.stdin.on("end", () => {
    process.stdout.write(solc.compile(input, { import: findImports }));
  });
} else {
  process.stderr.write("usage: solc.js --version | --standard-json < input.json\n");
  process.exit(2);
}
