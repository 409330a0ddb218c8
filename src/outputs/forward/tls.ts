// TLS options for a receiver from the tls.* keys. Files are read when the
// output is created, so a wrong path is reported at start, not at the first
// flush. Relative paths are relative to the main config file's folder.
import { readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { readRegularFile } from '../../config/regular-file.js';
import type { TlsSettings } from './settings.js';

/** Certificates, CA bundles and keys are far smaller than this. */
const MAX_TLS_FILE_BYTES = 16 << 20;

function readKeyFile(key: string, path: string, configDir: string): Buffer {
  const full = isAbsolute(path) ? path : resolve(configDir, path);
  try {
    // A regular file only: a FIFO would hang start-up, where no signal can stop it.
    return readRegularFile(full, MAX_TLS_FILE_BYTES, { what: 'a certificate or key file' });
  } catch (err) {
    throw new Error(`${key}: cannot read ${full}: ${(err as Error).message}`);
  }
}

function readCaPath(dir: string, configDir: string): Buffer[] {
  const full = isAbsolute(dir) ? dir : resolve(configDir, dir);
  let names: string[];
  try {
    names = readdirSync(full).filter((n) => /\.(pem|crt|cer)$/i.test(n));
  } catch (err) {
    throw new Error(`tls.ca_path: cannot list ${full}: ${(err as Error).message}`);
  }
  return names.map((n) => readKeyFile('tls.ca_path', join(full, n), configDir));
}

/** Node TLS options, or undefined when tls is off. */
export function tlsOptions(settings: TlsSettings, configDir: string): ConnectionOptions | undefined {
  if (!settings.enabled) return undefined;
  const ca = [
    ...(settings.caFile ? [readKeyFile('tls.ca_file', settings.caFile, configDir)] : []),
    ...(settings.caPath ? readCaPath(settings.caPath, configDir) : []),
  ];
  return {
    // Without ca, Node trusts its bundled public CAs (as Fluent Bit trusts the system's).
    ca: ca.length > 0 ? ca : undefined,
    cert: settings.crtFile ? readKeyFile('tls.crt_file', settings.crtFile, configDir) : undefined,
    key: settings.keyFile ? readKeyFile('tls.key_file', settings.keyFile, configDir) : undefined,
    passphrase: settings.keyPasswd,
    // Node checks the certificate against servername when set (else host).
    servername: settings.vhost,
    rejectUnauthorized: settings.verify,
  };
}
