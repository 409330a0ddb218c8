// Log lines in Fluent Bit's shape, to stderr:
//   [2026/11/22 17:39:29] [ info] [input:ebpf:ebpf.0] message
export type LogLevel = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export const logLevels: readonly LogLevel[] = ['off', 'error', 'warn', 'info', 'debug', 'trace'];
const rank: Record<LogLevel, number> = { off: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5 };
const label: Record<Exclude<LogLevel, 'off'>, string> = { error: 'error', warn: ' warn', info: ' info', debug: 'debug', trace: 'trace' };

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  trace(message: string): void;
  enabled(level: LogLevel): boolean;
  /** A logger whose lines carry a component, e.g. "output:forward:forward.0". */
  child(component: string): Logger;
}

const pad = (n: number) => String(n).padStart(2, '0');
function stamp(d = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

class LevelLogger implements Logger {
  constructor(
    private readonly state: { level: LogLevel },
    private readonly sink: LogSink,
    private readonly component?: string,
  ) {}

  private emit(level: Exclude<LogLevel, 'off'>, message: string): void {
    if (rank[level] > rank[this.state.level]) return;
    const where = this.component ? ` [${this.component}]` : '';
    this.sink.write(`[${stamp()}] [${label[level]}]${where} ${message}\n`);
  }

  error(m: string) { this.emit('error', m); }
  warn(m: string) { this.emit('warn', m); }
  info(m: string) { this.emit('info', m); }
  debug(m: string) { this.emit('debug', m); }
  trace(m: string) { this.emit('trace', m); }
  enabled(level: LogLevel) { return rank[level] <= rank[this.state.level]; }
  child(component: string): Logger { return new LevelLogger(this.state, this.sink, component); }
}

export interface RootLogger extends Logger {
  setLevel(level: LogLevel): void;
}

export function createLogger(level: LogLevel = 'info', sink: LogSink = stderrSink): RootLogger {
  const state = { level };
  const logger = new LevelLogger(state, sink) as LevelLogger & RootLogger;
  logger.setLevel = (l: LogLevel) => { state.level = l; };
  return logger;
}
