// The forward output's keys as a user writes them: through the real config
// loader (file:line errors), Fluent Bit's Retry_Limit values, and the key
// combinations validate() refuses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/model.js';
import { forwardOutput } from '../../../src/outputs/forward/index.js';
import { parseRetryLimit } from '../../../src/outputs/forward/retry.js';
import { readForwardSettings } from '../../../src/outputs/forward/settings.js';
import { traces } from '../../../src/traces/registry.js';
import { forwardValues } from './support.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'forward-settings-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function load(output: string[]) {
  const file = join(dir, 'main.conf');
  writeFileSync(file, ['[INPUT]', '    Name  ebpf', '    Trace trace_signal', '', '[OUTPUT]', '    Name  forward', '    Match *', ...output.map((l) => `    ${l}`), ''].join('\n'));
  return loadConfig(file, { traces, outputs: new Map([['forward', forwardOutput]]) });
}

function problem(output: string[]): string {
  try {
    load(output);
  } catch (err) {
    if (err instanceof ConfigError) return err.message.replace(`${dir}/`, '');
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('forward keys in a config file', () => {
  it('defaults are Fluent Bit\'s', () => {
    const s = readForwardSettings(load([]).outputs[0]!.values);
    expect(s).toMatchObject({
      host: '127.0.0.1',
      port: 24224,
      mode: 'forward',
      timeAsInteger: false,
      sendOptions: false,
      requireAck: false,
      retryLimit: 1,
      selfHostname: 'localhost',
      sharedKey: undefined,
      tls: { enabled: false, verify: true },
      memBufLimit: 32_000_000,
      storageLimit: undefined,
      ackTimeoutMs: 30_000,
      connectTimeoutMs: 10_000,
    });
  });

  it('reads every key as written in Fluent Bit\'s documentation', () => {
    const s = readForwardSettings(
      load([
        'Host  10.0.0.5',
        'Port  24225',
        'Tag   renamed',
        'Require_ack_response  On',
        'Compress  gzip',
        'Shared_Key  secret',
        'Self_Hostname  me',
        'Username  u',
        'Password  p',
        'Retry_Limit  no_limits',
        'tls  on',
        'tls.verify  off',
        'tls.vhost  example.org',
        'Mem_Buf_Limit  5M',
        'storage.total_limit_size  1G',
        'ack_response_timeout  1m',
        'net.connect_timeout  5',
      ]).outputs[0]!.values,
    );
    expect(s).toMatchObject({
      host: '10.0.0.5',
      port: 24225,
      tag: 'renamed',
      requireAck: true,
      sendOptions: true,
      mode: 'compressed',
      sharedKey: 'secret',
      selfHostname: 'me',
      username: 'u',
      password: 'p',
      retryLimit: 'unlimited',
      tls: { enabled: true, verify: false, vhost: 'example.org' },
      memBufLimit: 5_000_000,
      storageLimit: 1_000_000_000,
      ackTimeoutMs: 60_000,
      connectTimeoutMs: 5_000,
    });
    expect(readForwardSettings(load(['Empty_Shared_Key on']).outputs[0]!.values).sharedKey).toBe('');
    expect(readForwardSettings(load(['forward_mode PackedForward']).outputs[0]!.values).mode).toBe('packed');
  });

  it('errors name the line and the problem', () => {
    expect(problem(['Retry_Limit  0'])).toMatch(/^main\.conf:8: Retry_Limit: "0" is not a retry limit: use a number of retries \(1 or more\), no_limits \(or False\) for no limit, or no_retries$/);
    expect(problem(['Compress  zstd'])).toBe('main.conf:8: Compress: "zstd" is not one of text, gzip');
    expect(problem(['Port  http'])).toBe('main.conf:8: Port: "http" is not a whole number');
    expect(problem(['Compress gzip', 'Time_as_Integer on'])).toBe('main.conf:5: [OUTPUT] forward: Compress gzip is incompatible with Time_as_Integer on (as in Fluent Bit)');
    expect(problem(['Username u'])).toMatch(/^main\.conf:5: \[OUTPUT\] forward: Username\/Password are sent in the handshake, which runs only with Shared_Key/);
    expect(problem(['Shared_Key k', 'Empty_Shared_Key on'])).toBe('main.conf:5: [OUTPUT] forward: set Shared_Key or Empty_Shared_Key on, not both');
    expect(problem(['tls.crt_file c.pem'])).toBe('main.conf:5: [OUTPUT] forward: tls.crt_file and tls.key_file go together: set both or neither');
    expect(problem(['Hots 1.2.3.4'])).toMatch(/^main\.conf:8: unknown key "Hots" in \[OUTPUT\] forward; known keys: .*host/);
  });
});

describe('Retry_Limit', () => {
  it('takes Fluent Bit\'s values', () => {
    expect(parseRetryLimit('3')).toBe(3);
    expect(parseRetryLimit('no_limits')).toBe('unlimited');
    expect(parseRetryLimit('False')).toBe('unlimited');
    expect(parseRetryLimit('off')).toBe('unlimited');
    expect(parseRetryLimit('no_retries')).toBe(0);
    expect(() => parseRetryLimit('-1')).toThrow(/not a retry limit/);
    expect(() => parseRetryLimit('forever')).toThrow(/not a retry limit/);
  });

  it('defaults to 1 (one retry after the first attempt)', () => {
    expect(forwardValues({}).get('retry_limit')).toBe(1);
  });
});
