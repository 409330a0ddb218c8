// Shared_Key, Username/Password and Empty_Shared_Key through the HELO/PING/
// PONG handshake, against FluentServer (bin nonce) and the independent
// receiver with Fluent Bit's str nonce (16 raw bytes, not valid UTF-8) and
// Fluentd's bin nonce; a wrong key is one clear error and nothing is sent.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { FluentServerReceiver, IndependentReceiver, type TestReceiver } from './receivers.js';
import { createForward, makeChunk, testLog, waitFor } from './support.js';

type Variant = [string, (security: ConstructorParameters<typeof IndependentReceiver>[0]) => Promise<TestReceiver>];
const variants: Variant[] = [
  ['FluentServer', (o) => new FluentServerReceiver(o).start()],
  ['independent receiver, str nonce (Fluent Bit), refusal by PONG', (o) => new IndependentReceiver({ ...o, nonceAs: 'str', refuseWith: 'pong' }).start()],
  ['independent receiver, bin nonce (Fluentd), refusal by closing', (o) => new IndependentReceiver({ ...o, nonceAs: 'bin', refuseWith: 'close' }).start()],
];

describe.each(variants)('handshake with %s', (_name, start) => {
  let receiver: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(500);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('delivers with the right Shared_Key (and acks)', async () => {
    receiver = await start({ security: { sharedKey: 's3cr3t' } });
    output = createForward({ port: String(receiver.port), shared_key: 's3cr3t', self_hostname: 'ebpf-host', require_ack_response: 'on' });
    await output.start();
    output.write('t', makeChunk(0, 20));
    await output.flush();
    expect(receiver.entries).toHaveLength(20);
    expect(output.counters()).toMatchObject({ records_sent: 20, records_acked: 20, records_dropped: {} });
  });

  it('delivers with Username/Password when the receiver asks for users', async () => {
    receiver = await start({ security: { sharedKey: 'k', users: { alice: 'pa55' } } });
    output = createForward({ port: String(receiver.port), shared_key: 'k', username: 'alice', password: 'pa55', require_ack_response: 'on' });
    await output.start();
    output.write('t', makeChunk(0, 5));
    await output.flush();
    expect(receiver.entries).toHaveLength(5);
  });

  it('delivers with Empty_Shared_Key to a receiver whose key is empty', async () => {
    receiver = await start({ security: { sharedKey: '' } });
    output = createForward({ port: String(receiver.port), empty_shared_key: 'on' });
    await output.start();
    output.write('t', makeChunk(0, 5));
    await output.flush();
    await waitFor('5 records', () => receiver!.entries.length === 5);
  });

  it('a wrong Shared_Key: one clear error, nothing sent, records dropped at Retry_Limit', async () => {
    receiver = await start({ security: { sharedKey: 'right' } });
    const log = testLog();
    output = createForward({ port: String(receiver.port), shared_key: 'wrong', retry_limit: '2' }, { log: log.logger });
    await output.start();
    output.write('t', makeChunk(0, 10));
    await waitFor('the batch dropped at Retry_Limit', () => output!.counters().records_dropped.retry_limit === 10);
    expect(receiver.entries).toHaveLength(0);
    expect(output.counters()).toMatchObject({ records_sent: 0, records_retried: 0, records_dropped: { retry_limit: 10 } });
    const errors = log.lines.filter((l) => l.includes('[error]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/refused|Shared_Key/);
    expect(errors[0]).toMatch(/Shared_Key/);
    expect(log.text()).toMatch(/dropped 10 records of t after 3 failed attempts \(Retry_Limit 2\)/);
  });

  it('a wrong password is refused the same way', async () => {
    receiver = await start({ security: { sharedKey: 'k', users: { alice: 'pa55' } } });
    const log = testLog();
    output = createForward({ port: String(receiver.port), shared_key: 'k', username: 'alice', password: 'nope', retry_limit: 'no_retries' }, { log: log.logger });
    await output.start();
    output.write('t', makeChunk(0, 3));
    await waitFor('the batch dropped', () => output!.counters().records_dropped.retry_limit === 3);
    expect(receiver.entries).toHaveLength(0);
    expect(log.lines.filter((l) => l.includes('[error]'))).toHaveLength(1);
  });
});

describe('handshake details', () => {
  let receiver: IndependentReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(500);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('a receiver that asks for a handshake the output was not told about is named in the error', async () => {
    receiver = await new IndependentReceiver({ security: { sharedKey: 'k' } }).start();
    const log = testLog();
    output = createForward({ port: String(receiver.port), require_ack_response: 'on', retry_limit: 'no_retries' }, { log: log.logger });
    await output.start();
    output.write('t', makeChunk(0, 3));
    await waitFor('the batch dropped', () => output!.counters().records_dropped.retry_limit === 3);
    expect(log.text()).toMatch(/asks for a handshake \(HELO\): set Shared_Key/);
    expect(receiver.entries).toHaveLength(0);
  });

  it('the same Self_Hostname on both sides is refused with a hint', async () => {
    receiver = await new IndependentReceiver({ security: { sharedKey: 'k', hostname: 'same' } }).start();
    const log = testLog();
    output = createForward({ port: String(receiver.port), shared_key: 'k', self_hostname: 'same', retry_limit: 'no_retries' }, { log: log.logger });
    await output.start();
    output.write('t', makeChunk(0, 1));
    await waitFor('the batch dropped', () => output!.counters().records_dropped.retry_limit === 1);
    expect(log.text()).toMatch(/set a different Self_Hostname/);
  });
});
