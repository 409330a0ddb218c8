#!/usr/bin/env node
// native/record_ops.h, the native interpreter's opcode table, is generated
// from the one table there is, src/records/program.ts (Op, FIXED_ARGS and
// its sentinels). Run after a build when program.ts changes, then rebuild
// the addon:
//   npm run build:ts && node scripts/record-ops-header.mjs && npm run build
// test/records/record-ops-header.test.ts fails while the two differ.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const headerPath = join(root, 'native', 'record_ops.h');

const hex = (n) => `0x${n.toString(16)}u`;

/** The header's text for program.ts's exports. */
export function recordOpsHeader({ Op, FIXED_ARGS, NO_DEFAULT, NO_TARGET, CONTAINER_ID_MAX }) {
  const ops = Object.entries(Op).sort(([, a], [, b]) => a - b);
  ops.forEach(([name, code], i) => {
    if (code !== i) throw new Error(`program.ts: opcode ${name} is ${code}, and the opcodes must run 0, 1, 2... (it would be ${i})`);
    if (!(code in FIXED_ARGS)) throw new Error(`program.ts: FIXED_ARGS has no entry for ${name}`);
  });
  return `// Generated from src/records/program.ts by scripts/record-ops-header.mjs: do not edit.
#pragma once
#include <cstdint>

namespace ebpf_forward::record_ops {

enum Op : uint32_t {
${ops.map(([name, code]) => `  ${name} = ${code},`).join('\n')}
  kOpCount
};
// Argument words of each opcode (ENUM and SWITCH have their cases after these).
constexpr uint32_t kFixedArgs[kOpCount] = {${ops.map(([, code]) => FIXED_ARGS[code]).join(', ')}};
constexpr const char* kOpNames[kOpCount] = {
${ops.map(([name]) => `    "${name}",`).join('\n')}
};
// ENUM's defLen for "no default string"; SWITCH's target for "skip the record".
constexpr uint32_t kNoDefault = ${hex(NO_DEFAULT)};
constexpr uint32_t kNoTarget = ${hex(NO_TARGET)};
// The hex digits of the longest container id CONTAINER_ID writes.
constexpr uint32_t kContainerIdDigits = ${CONTAINER_ID_MAX};

}  // namespace ebpf_forward::record_ops
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const program = await import(join(root, 'dist', 'records', 'program.js'));
  writeFileSync(headerPath, recordOpsHeader(program));
}
