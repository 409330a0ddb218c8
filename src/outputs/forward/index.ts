// The forward output plugin: Fluent Bit's out_forward for ebpf-forward.
import type { OutputPlugin } from '../types.js';
import { ForwardOutput } from './output.js';
import { forwardKeys, validateForwardValues } from './settings.js';

export const forwardOutput: OutputPlugin = {
  name: 'forward',
  summary: 'send records to Fluent Bit / Fluentd over the Forward protocol (acks, TLS, shared key, upstream failover, spool)',
  keys: forwardKeys,
  validate: validateForwardValues,
  create: (values, context) => new ForwardOutput(values, context),
};

export { ForwardOutput } from './output.js';
