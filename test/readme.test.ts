// The README's field tables are the record declarations: written there by
// scripts/readme-tables.mjs, and checked here so that neither drifts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldTables } from '../src/records/field-table.js';
import { traces } from '../src/traces/registry.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

describe('README field tables', () => {
  for (const trace of traces.values()) {
    it(`${trace.name}'s table is its declaration (else run: node scripts/readme-tables.mjs)`, () => {
      if ('asIs' in trace.record) return;
      const block = new RegExp(`<!-- fields ${trace.name} -->\\n([\\s\\S]*?)<!-- end fields -->`).exec(readme);
      expect(block, `a <!-- fields ${trace.name} --> block in README.md`).not.toBeNull();
      expect(block![1]).toBe(`${fieldTables(trace.record)}\n`);
    });
  }
});
