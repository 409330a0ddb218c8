// docker/Dockerfile read as a builder reads it: instructions by stage,
// comments dropped, `\` continuations joined.
export interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`docker/Dockerfile:${start}: not an instruction: ${line}`);
    const keyword = m[1]!.toUpperCase();
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2]!.trim());
      stages.push({ from: from![1]!, name: from![2], instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ line: start, keyword, args: m[2]! });
    }
  }
  return stages;
}

/** What a COPY takes from the build context (not from another stage): its source paths. */
export function contextSources(stages: Stage[]): string[] {
  return stages.flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'COPY')).flatMap((copy) => {
    const words = copy.args.trim().split(/\s+/);
    if (words.some((w) => w.startsWith('--from='))) return [];
    return words.filter((w) => !w.startsWith('--')).slice(0, -1);
  });
}
