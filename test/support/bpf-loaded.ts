// What a process has loaded in the kernel (BPF maps, programs, links), to
// check that nothing of the CLI's stays there once it has exited.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

export interface Loaded {
  maps: string[];
  programs: string[];
  links: number;
}

/**
 * What a process has loaded in the kernel: bpftool shows no owner pids here,
 * but every object of ours has self_tgid (its owner's pid) in its .rodata map.
 */
export function loadedBy(pid: number): Loaded {
  const json = (args: string[]) => {
    const r = spawnSync('bpftool', [...args, '-j'], { encoding: 'utf8' });
    // A map or program of another test can go away between list and dump.
    return r.status === 0 ? JSON.parse(r.stdout) : undefined;
  };
  const maps = (json(['map', 'show']) ?? []) as { id: number; name?: string }[];
  const ours = new Map<number, string>();
  for (const map of maps.filter((m) => m.name?.endsWith('.rodata'))) {
    const dump = json(['map', 'dump', 'id', String(map.id)]) as { formatted?: { value?: { '.rodata'?: Record<string, unknown>[] } } }[] | undefined;
    const vars = dump?.[0]?.formatted?.value?.['.rodata'] ?? [];
    if (vars.some((v) => v.self_tgid === pid)) ours.set(map.id, map.name!);
  }
  const programs = ((json(['prog', 'show']) ?? []) as { id: number; name?: string; map_ids?: number[] }[])
    .filter((p) => p.map_ids?.some((id) => ours.has(id)));
  const programIds = new Set(programs.map((p) => p.id));
  const links = ((json(['link', 'show']) ?? []) as { prog_id?: number }[]).filter((l) => l.prog_id !== undefined && programIds.has(l.prog_id));
  return { maps: [...ours.values()].sort(), programs: programs.map((p) => p.name ?? '').sort(), links: links.length };
}

/**
 * Nothing of the process stays in the kernel. A program goes at once, its
 * maps after an RCU grace period: poll a little for the kernel to finish.
 */
export async function expectNothingLoadedBy(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let left = loadedBy(pid);
  while (left.maps.length + left.programs.length + left.links > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = loadedBy(pid);
  }
  expect(left).toEqual({ maps: [], programs: [], links: 0 });
}
