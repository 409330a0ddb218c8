// A test's helper child that says when it is ready on stdout: its output
// gathered as it comes, and a promise for the ready line.
import type { ChildProcess } from 'node:child_process';

export interface ChildOutput {
  /** Everything it wrote so far. */
  output: { out: string; err: string };
  /** Resolves with the ready line's match; rejects if it exits first. */
  ready: Promise<RegExpExecArray>;
  /** Resolves with its exit code once all its output has been read ('close', not 'exit'). */
  exited: Promise<number | null>;
}

export function watchChild(child: ChildProcess, name: string, readyLine: RegExp): ChildOutput {
  const output = { out: '', err: '' };
  let onReady: (m: RegExpExecArray) => void;
  const ready = new Promise<RegExpExecArray>((resolve, reject) => {
    onReady = resolve;
    // Does nothing once it was ready.
    child.on('close', (code) => reject(new Error(`${name} exited with ${code} before it was ready: ${output.err}`)));
  });
  ready.catch(() => {}); // awaited only by the tests that need it
  child.stdout!.on('data', (d: Buffer) => {
    output.out += d.toString();
    const m = readyLine.exec(output.out);
    if (m) onReady(m);
  });
  child.stderr!.on('data', (d: Buffer) => (output.err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { output, ready, exited };
}
