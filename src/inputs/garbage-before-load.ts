// A full garbage collection before the first BPF object loads: libbpf parses
// the kernel's BTF for CO-RE while loading (on libbpf 1.1 the file read into
// one buffer and copied into another: about 11 MB for some 50 ms on a 6.x
// kernel), and whatever V8 holds of start-up's garbage then is resident at
// the same time: that moment is the process's peak RSS. Collected first, it
// is 2 MB lower, and V8's heap stays smaller after (bench/RESULTS.md).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collected = false;

/** Once per process: a full GC (V8's gc(), exposed for this call only). */
export function collectGarbageBeforeLoad(): void {
  if (collected) return;
  collected = true;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  setFlagsFromString('--no-expose-gc');
  gc?.();
}
