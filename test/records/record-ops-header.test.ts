// The native interpreter's opcode table (native/record_ops.h) is generated
// from src/records/program.ts: the committed header is what the generator
// makes of the table now.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import * as program from '../../src/records/program.js';
import { headerPath, recordOpsHeader } from '../../scripts/record-ops-header.mjs';

it('native/record_ops.h is generated from program.ts (else: npm run build:ts && node scripts/record-ops-header.mjs && npm run build)', () => {
  expect(readFileSync(headerPath, 'utf8')).toBe(recordOpsHeader(program));
});

it('refuses a table whose opcodes do not run 0, 1, 2...', () => {
  expect(() => recordOpsHeader({ ...program, Op: { END: 0, MIN_LEN: 2 } })).toThrow('opcode MIN_LEN is 2');
});
