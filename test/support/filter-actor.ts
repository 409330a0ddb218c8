// A child process for the filter tests: named (its comm), run as some uid,
// in some cgroup, it waits for a go, then makes one event of each trace the
// tests filter: an openat of its file, a kill(self, 0), malloc/free calls
// with sleeps between (switch-ins), and last an execve of /bin/true.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cgroupRoot } from '../../src/records/container-names.js';
import { compileC } from './c-program.js';

const SOURCE = String.raw`
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  prctl(PR_SET_NAME, argv[1]);
  printf("ready\n");
  fflush(stdout);
  char c;
  if (read(0, &c, 1) != 1) return 1;
  int fd = open(argv[2], O_RDONLY);
  if (fd >= 0) close(fd);
  kill(getpid(), 0);
  for (int i = 0; i < 3; i++) {
    void *volatile p = malloc(ACTOR_SIZE + i);
    free(p);
    struct timespec ts = { 0, 2000000 };
    nanosleep(&ts, NULL);
  }
  execl(argv[3], argv[1], (char *)NULL);
  return 2;
}
`;

/** The sizes an actor mallocs: ACTOR_SIZE, +1, +2 (found among the machine's calls by these). */
export const ACTOR_SIZE = 777_001;

let program: string | undefined;
let file: string | undefined;

/** The actor program, and a file it opens, both usable by any uid. */
function actorProgram(): { program: string; file: string } {
  if (!program || !file) {
    program = compileC('filter-actor', `#define ACTOR_SIZE ${ACTOR_SIZE}\n${SOURCE}`);
    const dir = dirname(program);
    chmodSync(dir, 0o755);
    file = join(dir, 'opened-by-actors');
    writeFileSync(file, 'x');
    chmodSync(file, 0o644);
  }
  return { program, file };
}

/** /bin/true through a link named `comm`: what an actor execs last. */
export function trueLink(comm: string): string {
  const link = join(dirname(actorProgram().program), 'bin', comm);
  if (!existsSync(link)) {
    mkdirSync(dirname(link), { recursive: true, mode: 0o755 });
    symlinkSync('/bin/true', link);
  }
  return link;
}

export function actorFile(): string {
  return actorProgram().file;
}

export interface ActorSpec {
  comm: string;
  /** Real (and effective) uid and gid, through setpriv. */
  uid?: number;
  /** A cgroup directory to move into first. */
  cgroup?: string;
}

export interface Actor {
  pid: number;
  comm: string;
  /** Lets it make its events; resolves when it has exited. */
  go(): Promise<void>;
}

/** Starts an actor and waits until it is named, placed and waiting for the go. */
export async function startActor(spec: ActorSpec): Promise<Actor> {
  const { program, file } = actorProgram();
  const priv = spec.uid !== undefined ? `setpriv --reuid=${spec.uid} --regid=${spec.uid} --clear-groups ` : '';
  const child: ChildProcess = spawn('sh', ['-c', `if [ -n "$CG" ]; then echo $$ > "$CG/cgroup.procs" || exit 3; fi; exec ${priv}"$PROG" "$COMM" "$FILE" "$LINK"`], {
    env: { ...process.env, CG: spec.cgroup ?? '', PROG: program, COMM: spec.comm, FILE: file, LINK: trueLink(spec.comm) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`actor ${spec.comm} exited with ${code}`)))),
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    exited.catch(reject);
  });
  return {
    pid: child.pid!,
    comm: spec.comm,
    go: () => {
      child.stdin!.end('g');
      return exited;
    },
  };
}

/** A test's own cgroup tree under the v2 root, removed (deepest first) by remove(). */
export class TestCgroups {
  readonly root: string;
  private readonly made: string[] = [];

  constructor(name: string) {
    this.root = join(cgroupRoot(), `ebpf-forward-test-${process.pid}-${name}`);
    this.make('');
  }

  /** Makes a cgroup (relative to this tree's root); returns its directory. */
  make(relative: string): string {
    const dir = relative ? join(this.root, relative) : this.root;
    mkdirSync(dir);
    this.made.push(dir);
    return dir;
  }

  /** Its path as the cgroup keys take it (relative to the v2 root). */
  path(relative = ''): string {
    return (relative ? join(this.root, relative) : this.root).slice(cgroupRoot().length);
  }

  /**
   * Moves this process (all its threads) into the tree's root, so that
   * every child it starts from now on is in it too; returns the call that
   * moves it back where it was.
   */
  enter(): () => void {
    const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
    const home = join(cgroupRoot(), line ? line.slice(3) : '/');
    writeFileSync(join(this.root, 'cgroup.procs'), String(process.pid));
    return () => writeFileSync(join(home, 'cgroup.procs'), String(process.pid));
  }

  remove(): void {
    // Deepest first.
    for (const dir of [...this.made].sort((a, b) => b.split('/').length - a.split('/').length)) {
      if (!existsSync(dir)) continue;
      // Anything still in it (a test that failed midway) goes back to the root first.
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(cgroupRoot(), 'cgroup.procs'), pid);
        } catch {
          // exited meanwhile
        }
      }
      rmdirSync(dir);
    }
    this.made.length = 0;
  }
}

/** A made-up 64-hex container id. */
export function containerId(seed: number): string {
  return Array.from({ length: 64 }, (_, i) => ((seed * 7 + i * 13) % 16).toString(16)).join('');
}
