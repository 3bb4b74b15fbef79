// Paths into the PKI made by global-setup.ts (provided to every test file).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from '@hepix/test-support';
import { inject } from 'vitest';

const pki = (): string => inject('smimePki');
export const file = (...p: string[]): string => join(pki(), ...p);
export const read = (...p: string[]): string => readFileSync(file(...p), 'utf8');
export const readBytes = (...p: string[]): Buffer => readFileSync(file(...p));
/** Subject hash of a CA of the fixture PKI (`root`, `inter`, `ecca`): its trust directory files are `<hash>.*`. */
export const hashOf = (ca: string): string =>
  openssl(['x509', '-in', file(ca, 'cert.pem'), '-noout', '-hash'])
    .toString()
    .trim();
