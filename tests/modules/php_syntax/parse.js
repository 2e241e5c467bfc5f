// Parses PHP files with the grammar of one PHP version: node parse.js 7.1 a.php b.php
// Prints one line per file that does not parse, then a JSON summary; exit 1 if any did not.
"use strict";
const fs = require("fs");
const { Engine } = require("php-parser");

const [version, ...files] = process.argv.slice(2);
const failed = [];
for (const file of files) {
  const engine = new Engine({ parser: { php7: true, version, suppressErrors: false }, ast: { withPositions: false } });
  try {
    engine.parseCode(fs.readFileSync(file, "utf8"), file);
  } catch (error) {
    failed.push({ file, error: error.message });
  }
}
process.stdout.write(JSON.stringify({ version, parsed: files.length - failed.length, failed }) + "\n");
process.exit(failed.length ? 1 : 0);
