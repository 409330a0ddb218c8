// A C program that makes one open call of each kind trace_vfs reports, and
// what each call returned, for the trace_vfs kernel test and end-to-end tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileC } from './c-program.js';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Raw syscalls, so flags and mode reach the kernel exactly as printed. */
static void report(const char *name, long r, unsigned flags, unsigned mode) {
  printf("%s %ld %d %u %u\n", name, r, r < 0 ? errno : 0, flags, mode);
}

int main(int argc, char **argv) {
  const char *dir = argv[1];
  /* One file name per case: each record is found by its path. */
  char p_openat[4096], p_missing[4096], p_creat[4096], p_openat2[4096], p_open[4096];
  snprintf(p_openat, sizeof p_openat, "%s/openat", dir);
  snprintf(p_missing, sizeof p_missing, "%s/missing", dir);
  snprintf(p_creat, sizeof p_creat, "%s/creat", dir);
  snprintf(p_openat2, sizeof p_openat2, "%s/openat2", dir);
  snprintf(p_open, sizeof p_open, "%s/open", dir);
  printf("pid %d %d\n", getpid(), (int)syscall(SYS_gettid));

  unsigned f = O_RDONLY | O_CLOEXEC;
  report("openat", syscall(SYS_openat, AT_FDCWD, p_openat, f, 0), f, 0);
  f = O_RDONLY;
  report("missing", syscall(SYS_openat, AT_FDCWD, p_missing, f, 0), f, 0);
  f = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  report("creat", syscall(SYS_openat, AT_FDCWD, p_creat, f, 0640), f, 0640);

#ifdef SYS_openat2
  struct open_how how = { .flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC, .mode = 0, .resolve = RESOLVE_NO_SYMLINKS };
  report("openat2", syscall(SYS_openat2, AT_FDCWD, p_openat2, &how, sizeof how), (unsigned)how.flags, 0);
#endif
#ifdef SYS_open
  f = O_RDONLY;
  report("open", syscall(SYS_open, p_open, f, 0), f, 0);
#endif

  /* The path in a file page this process has never touched: not resident
   * when sys_enter runs, so the trace has to read it again at exit. */
  int pf = open(argv[2], O_RDONLY);
  char *mapped = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, pf, 0);
  f = O_RDONLY;
  report("nonresident", syscall(SYS_openat, AT_FDCWD, mapped, f, 0), f, 0);

  char *longpath = malloc(5001);
  memset(longpath, 'a', 5000);
  longpath[5000] = 0;
  report("toolong", syscall(SYS_openat, AT_FDCWD, longpath, f, 0), f, 0);
  report("efault", syscall(SYS_openat, AT_FDCWD, (char *)8, f, 0), f, 0);
  return 0;
}
`;

export interface VfsCall {
  /** Which case: openat, missing, creat, openat2, open, nonresident, toolong, efault. */
  name: string;
  /** The path the call passed ("" for the bad pointer). */
  path: string;
  /** The syscall's return: an fd or -1. */
  result: number;
  errno: number;
  flags: number;
  mode: number;
}

export interface VfsRun {
  pid: number;
  tid: number;
  calls: VfsCall[];
}

/** Runs the program in a fresh folder and returns what each call passed and got. */
export function runVfsProgram(): VfsRun {
  const bin = compileC('vfs-opens', SOURCE);
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-vfs-'));
  try {
    for (const name of ['openat', 'openat2', 'open', 'nonresident']) writeFileSync(join(dir, name), 'x');
    // The mmap'ed file: its first page holds the NUL-terminated path.
    const mappedPath = join(dir, 'nonresident');
    const pathFile = join(dir, 'path-page');
    writeFileSync(pathFile, Buffer.concat([Buffer.from(mappedPath + '\0'), Buffer.alloc(4096)]));
    const r = spawnSync(bin, [dir, pathFile], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vfs-opens failed (${r.status}): ${r.stderr}`);
    const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
    const [, pid, tid] = lines[0]!;
    const pathOf: Record<string, string> = {
      openat: join(dir, 'openat'),
      missing: join(dir, 'missing'),
      creat: join(dir, 'creat'),
      openat2: join(dir, 'openat2'),
      open: join(dir, 'open'),
      nonresident: mappedPath,
      toolong: 'a'.repeat(5000),
      efault: '',
    };
    const calls = lines.slice(1).map(([name, result, errno, flags, mode]) => ({
      name: name!,
      path: pathOf[name!]!,
      result: Number(result),
      errno: Number(errno),
      flags: Number(flags),
      mode: Number(mode),
    }));
    return { pid: Number(pid), tid: Number(tid), calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
