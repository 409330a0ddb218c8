// The forward output plugin: Fluent Bit's out_forward for ebpf-forward.
import { ConfigError, type KeyValues } from '../../config/model.js';
import { NamedFileError, type OutputPlugin } from '../types.js';
import { ForwardOutput } from './output.js';
import { forwardKeys, readForwardSettings, validateForwardValues } from './settings.js';
import { tlsOptions } from './tls.js';
import { readUpstreamFile } from './upstream.js';

/** The Upstream file and every TLS file, read as the output's start reads them. */
function checkForwardFiles(values: KeyValues, configDir: string): void {
  const settings = readForwardSettings(values);
  const nodes = [settings];
  if (settings.upstream) {
    try {
      nodes.push(...readUpstreamFile(settings.upstream, configDir, values).nodes.map((n) => ({ ...settings, ...n.settings })));
    } catch (err) {
      // A problem inside the file is at its own line; a file that can't be read, at the Upstream key.
      if (err instanceof ConfigError && err.line > 0) throw err;
      throw new NamedFileError('upstream', err instanceof ConfigError ? `Upstream ${err.file}: ${err.problem}` : (err as Error).message);
    }
  }
  for (const node of nodes) {
    try {
      tlsOptions(node.tls, configDir);
    } catch (err) {
      const message = (err as Error).message;
      throw new NamedFileError(/^(tls\.\w+):/.exec(message)?.[1] ?? 'tls', message);
    }
  }
}

export const forwardOutput: OutputPlugin = {
  name: 'forward',
  summary: 'send records to Fluent Bit / Fluentd over the Forward protocol (acks, TLS, shared key, upstream failover, spool)',
  keys: forwardKeys,
  validate: validateForwardValues,
  checkFiles: checkForwardFiles,
  create: (values, context) => new ForwardOutput(values, context),
};

export { ForwardOutput } from './output.js';
