// Types of bench/soak-outages.mjs, for the short soak the tests run.

export interface SoakOptions {
  rate?: number;
  downS?: number;
  upS?: number;
  cycles?: number;
  storage?: boolean;
  acks?: boolean;
  http?: boolean;
  /** A tmpfs of this size (mount's size=) under storage.path. */
  tmpfs?: string;
  memBufLimit?: string;
  /** A directory for the run's logs. */
  logs?: string;
  log?: (line: string) => void;
}

export interface SoakExit {
  code: number | null;
  signal: string | null;
}

/** One run's figures; `ok`: it stayed up, exited 0 and every offered event is accounted for. */
export interface SoakResult {
  features: { storage: boolean; acks: boolean; http: boolean; tmpfs: string | null };
  rate: number;
  outages: string;
  offered: number;
  received: number;
  duplicates: number;
  lost_in_kernel: number;
  dropped: { first: Record<string, number>; restart: Record<string, number> };
  kept_on_disk_at_end: number;
  unaccounted: number;
  alive_throughout: boolean;
  exit: SoakExit;
  restart_exit: SoakExit | null;
  fds: { min: number; max: number };
  storage_files: { min: number; max: number };
  error_lines: number;
  distinct_error_lines: number;
  error_kinds: Record<string, number>;
  http: { probes: number; ok: number } | null;
  sink_errors: number;
  ok: boolean;
}

export function soak(options: SoakOptions): Promise<SoakResult>;
