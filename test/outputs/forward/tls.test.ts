// TLS against both receivers with a CA made for the test: tls.verify on (the
// default) with tls.ca_file, off without it, tls.vhost, a client certificate;
// an untrusted certificate is one clear error and nothing is sent.
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { makeCertificates, type TestCertificates } from './certificates.js';
import { receivers, type TestReceiver } from './receivers.js';
import { createForward, makeChunk, testLog, waitFor } from './support.js';

let certs: TestCertificates;
beforeAll(() => {
  certs = makeCertificates();
});
afterAll(() => rmSync(certs.dir, { recursive: true, force: true }));

describe.each(receivers)('TLS with %s', (_name, start) => {
  let receiver: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(300);
    await receiver?.close();
    output = receiver = undefined;
  });

  const tlsReceiver = (extra = {}) => start({ tls: { key: certs.serverKey, cert: certs.serverCert }, ...extra });

  const deliver = async (keys: Record<string, string>) => {
    const log = testLog();
    output = createForward({ port: String(receiver!.port), tls: 'on', retry_limit: 'no_retries', ...keys }, { configDir: certs.dir, log: log.logger });
    await output.start();
    output.write('t', makeChunk(0, 10));
    await output.flush();
    return log;
  };

  it('tls.verify on with the CA in tls.ca_file (relative to the config folder)', async () => {
    receiver = await tlsReceiver();
    await deliver({ 'tls.ca_file': certs.caFile, require_ack_response: 'on' });
    await waitFor('10 records', () => receiver!.entries.length === 10);
    expect(output!.counters()).toMatchObject({ records_sent: 10, records_acked: 10, records_dropped: {} });
  });

  it('tls.verify on without the CA: one clear error, nothing sent', async () => {
    receiver = await tlsReceiver();
    const log = await deliver({});
    expect(output!.counters()).toMatchObject({ records_sent: 0, records_dropped: { retry_limit: 10 } });
    expect(receiver.entries).toHaveLength(0);
    const errors = log.lines.filter((l) => l.includes('[error]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/TLS to 127\.0\.0\.1:\d+: .*certificate.*tls\.ca_file/i);
  });

  it('tls.verify off without the CA: delivers, with one warning that the receiver is not checked', async () => {
    receiver = await tlsReceiver();
    const log = await deliver({ 'tls.verify': 'off' });
    await waitFor('10 records', () => receiver!.entries.length === 10);
    const warnings = log.lines.filter((l) => l.includes('[ warn]'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/127\.0\.0\.1:\d+: tls\.verify off: the receiver's certificate is not checked, so anyone on the way can pose as it/);
  });

  it('an expired certificate: one error saying so, not a CA hint', async () => {
    receiver = await start({ tls: { key: certs.serverKey, cert: certs.expiredServerCert } });
    const log = await deliver({ 'tls.ca_file': certs.caFile });
    expect(receiver.entries).toHaveLength(0);
    const errors = log.lines.filter((l) => l.includes('[error]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/TLS to 127\.0\.0\.1:\d+: the receiver's certificate has expired \(renew it on the receiver/);
    expect(errors[0]).not.toMatch(/tls\.ca_file/);
  });

  it('tls.vhost names the certificate to expect', async () => {
    receiver = await tlsReceiver();
    await deliver({ 'tls.ca_file': certs.caFile, 'tls.vhost': 'receiver.test' });
    await waitFor('10 records', () => receiver!.entries.length === 10);
    await output!.close(300);
    const log = await deliver({ 'tls.ca_file': certs.caFile, 'tls.vhost': 'elsewhere.test' });
    expect(log.text()).toMatch(/elsewhere\.test.*set tls\.vhost/);
    expect(output!.counters().records_dropped).toEqual({ retry_limit: 10 });
  });

  it('TLS with Shared_Key and acks', async () => {
    receiver = await tlsReceiver({ security: { sharedKey: 'k' } });
    await deliver({ 'tls.ca_file': certs.caFile, shared_key: 'k', require_ack_response: 'on' });
    expect(output!.counters()).toMatchObject({ records_acked: 10 });
  });
});

describe.each(receivers)('TLS client certificate with %s', (_name, start) => {
  let receiver: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(300);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('tls.crt_file and tls.key_file are presented; without them the receiver refuses', async () => {
    receiver = await start({ tls: { key: certs.serverKey, cert: certs.serverCert, clientCa: certs.ca } });
    output = createForward(
      { port: String(receiver.port), tls: 'on', 'tls.ca_file': certs.caFile, 'tls.crt_file': certs.clientCrtFile, 'tls.key_file': certs.clientKeyFile, require_ack_response: 'on' },
      { configDir: certs.dir },
    );
    await output.start();
    output.write('t', makeChunk(0, 5));
    await output.flush();
    expect(output.counters().records_acked).toBe(5);
    await output.close(300);

    output = createForward({ port: String(receiver.port), tls: 'on', 'tls.ca_file': certs.caFile, require_ack_response: 'on', retry_limit: 'no_retries' }, { configDir: certs.dir });
    await output.start();
    output.write('t', makeChunk(5, 5));
    await waitFor('the batch dropped', () => output!.counters().records_dropped.retry_limit === 5);
    expect(receiver.entries).toHaveLength(5);
  });
});

describe('TLS settings', () => {
  it('a missing certificate file is an error when the output is created', () => {
    expect(() => createForward({ tls: 'on', 'tls.ca_file': 'nope.pem' }, { configDir: certs.dir })).toThrow(/tls\.ca_file: cannot read .*nope\.pem/);
  });
});
