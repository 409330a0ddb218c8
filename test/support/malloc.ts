// A C program that makes known malloc/free/calloc/realloc calls once told to
// (so a trace can be started for its pid first), and what each call got,
// for the trace_malloc kernel test and end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileC } from './c-program.js';
import { watchChild } from './child-output.js';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* op address size old_address, printed after all calls (printf allocates). */
struct call { const char *op; uintptr_t address; unsigned long long size; uintptr_t old; };
static struct call calls[32];
static int n;
static void note(const char *op, void *address, unsigned long long size, uintptr_t old) {
  calls[n].op = op; calls[n].address = (uintptr_t)address; calls[n].size = size; calls[n].old = old; n++;
}

/* Through a volatile, so the compiler can't fold realloc(NULL, n) into
 * malloc(n) or drop free(NULL): the C library must see these calls. */
static void *volatile null_pointer = NULL;

int main(void) {
  char go;
  write(1, "ready\n", 6);               /* its C library is mapped now */
  if (read(0, &go, 1) != 1) return 1;   /* wait until the trace is on */

  free(malloc(11111));                  /* start marker */
  void *a = malloc(1000);           note("malloc", a, 1000, 0);
  void *b = calloc(10, 24);         note("calloc", b, 240, 0);
  uintptr_t was = (uintptr_t)a;
  void *c = realloc(a, 5000);       note("realloc", c, 5000, was);
  void *d = realloc(null_pointer, 300); note("realloc", d, 300, 0); /* malloc inside */
  was = (uintptr_t)d;
  void *e = realloc(d, 0);          note("realloc", e, 0, was);     /* free inside */
  note("free", b, 0, 0);            free(b);
  note("free", c, 0, 0);            free(c);
  free(null_pointer);               note("free", 0, 0, 0);
  void *f = malloc(1ULL << 62);     note("malloc", f, 1ULL << 62, 0); /* fails: NULL */
  free(malloc(22222));                  /* end marker */

  printf("pid %d %d\n", getpid(), (int)syscall(SYS_gettid));
  for (int i = 0; i < n; i++)
    printf("%s %llu %llu %llu\n", calls[i].op, (unsigned long long)calls[i].address,
           calls[i].size, (unsigned long long)calls[i].old);
  return 0;
}
`;

/** The documented `operation` values of trace_malloc's records (Fluent Bit's numbering). */
export const MallocOperation = { malloc: 0, free: 1, calloc: 2, realloc: 3 } as const;

export const START_MARKER_SIZE = 11111;
export const END_MARKER_SIZE = 22222;

export interface MallocCall {
  op: 'malloc' | 'free' | 'calloc' | 'realloc';
  address: bigint;
  size: bigint;
  /** realloc: the pointer passed. */
  oldAddress: bigint;
}

/** Path of the compiled program, under `name` (its comm) if given. */
export function mallocProgramPath(name = 'malloc-ops'): string {
  const bin = compileC('malloc-ops', SOURCE);
  if (name === 'malloc-ops') return bin;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-malloc-'));
  const copy = join(dir, name);
  copyFileSync(bin, copy);
  return copy;
}

export interface MallocProgram {
  child: ChildProcess;
  pid: number;
  /** Resolves once it has started and mapped its C library. */
  ready: Promise<unknown>;
  /** Lets it make its calls; resolves with what it printed once it exits. */
  go(): Promise<{ pid: number; tid: number; calls: MallocCall[] }>;
}

export interface MallocProgramOptions {
  /** The program (mallocProgramPath()). */
  path?: string;
  /**
   * A command that ends by exec'ing the program, given as its last argument
   * (so its pid is the program's): to run it in another mount namespace, say.
   */
  wrapper?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts the program; it makes its calls when go() is called. */
export function startMallocProgram(options: MallocProgramOptions = {}): MallocProgram {
  const path = options.path ?? mallocProgramPath();
  const [command, ...args] = options.wrapper ? [...options.wrapper, path] : [path];
  const child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  const { output, ready, exited } = watchChild(child, 'malloc-ops', /^ready\n/);
  return {
    child,
    pid: child.pid!,
    ready,
    async go() {
      child.stdin!.end('g');
      const code = await exited;
      if (code !== 0) throw new Error(`malloc-ops exited with ${code}: ${output.err}`);
      const lines = output.out.trim().split('\n').slice(1).map((l) => l.split(' '));
      const [, pid, tid] = lines[0]!;
      const calls = lines.slice(1).map(([op, address, size, old]) => ({
        op: op as MallocCall['op'],
        address: BigInt(address!),
        size: BigInt(size!),
        oldAddress: BigInt(old!),
      }));
      return { pid: Number(pid), tid: Number(tid), calls };
    },
  };
}
