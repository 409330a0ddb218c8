// Types of scripts/record-ops-header.mjs, for its test.
export const headerPath: string;
export function recordOpsHeader(program: {
  Op: Readonly<Record<string, number>>;
  FIXED_ARGS: Readonly<Record<number, number>>;
  NO_DEFAULT: number;
  NO_TARGET: number;
  CONTAINER_ID_MAX: number;
}): string;
