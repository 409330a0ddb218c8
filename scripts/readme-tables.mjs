#!/usr/bin/env node
// Writes each trace's field tables into README.md from the record
// declarations (src/traces/*/index.ts), between the markers
// `<!-- fields trace_x -->` and `<!-- end fields -->`. Run after a build:
//   node scripts/readme-tables.mjs
// test/readme.test.ts fails when the README and the declarations differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { traces } = await import(join(root, 'dist', 'traces', 'registry.js'));
const { fieldTables } = await import(join(root, 'dist', 'records', 'field-table.js'));

const path = join(root, 'README.md');
let text = readFileSync(path, 'utf8');
for (const trace of traces.values()) {
  const block = new RegExp(`(<!-- fields ${trace.name} -->\\n)[\\s\\S]*?(<!-- end fields -->)`);
  if (!block.test(text)) {
    process.stderr.write(`readme-tables: README.md has no <!-- fields ${trace.name} --> block\n`);
    process.exitCode = 1;
    continue;
  }
  text = text.replace(block, `$1${fieldTables(trace.record)}\n$2`);
}
writeFileSync(path, text);
