// TLS options for a receiver from the tls.* keys. Files are read when the
// output is created, so a wrong path is reported at start, not at the first
// flush. Relative paths are relative to the main config file's folder.
import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { TlsSettings } from './settings.js';

function readKeyFile(key: string, path: string, configDir: string): Buffer {
  const full = isAbsolute(path) ? path : resolve(configDir, path);
  try {
    return readFileSync(full);
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
