import { sha512Hex } from '@hepix/common';
import { expect } from 'vitest';
import { SitePolicyError, type SitePolicyErrorCode } from '../src/index.js';

/** sha512 of a text, as lists carry it. */
const sha512 = (text: string): string => sha512Hex(text);

export const SUM_A = sha512('image a');
export const SUM_B = sha512('image b');
export const SUM_C = sha512('image c');

export const CERN_DN = '/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=Jane Doe';
export const DESY_DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Owen Synge';
export const REX_DN = '/C=DE/O=GermanGrid/OU=DESY/CN=Rex Revoked';
const CA_DN = '/C=DE/O=GermanGrid/CN=GridKa-CA';

export const NOW = new Date('2026-12-01T12:00:00Z');

/** An `hv:image` entry as vmcaster publishes it, with overrides. */
export function image(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'dc:identifier': '858a817e-0ca2-473f-89d3-d5bdfc51968e',
    'dc:title': 'SL6 worker node',
    'dc:description': 'A worker node',
    'hv:uri': 'https://images.example.org/sl6.qcow2',
    'hv:size': 2147483648,
    'hv:format': 'QCOW2',
    'hv:hypervisor': 'QEMU,KVM',
    'hv:version': '1.2',
    'sl:arch': 'x86_64',
    'sl:checksum:sha512': SUM_A,
    'sl:comments': '',
    'sl:os': 'Linux',
    'sl:osversion': 'SL 6.10',
    ...overrides,
  };
}

/** The facts of a verified list, with overrides. */
export function list(overrides: Record<string, unknown> = {}) {
  return {
    identifier: '9b6fad19-d913-4cca-b77d-c4b4fcd9dc36',
    signer: { subject: DESY_DN, issuer: CA_DN },
    created: new Date('2026-11-20T00:00:00Z'),
    ...overrides,
  };
}

/** Runs fn, expects a SitePolicyError with `code`, returns it. */
export function expectPolicyError(fn: () => unknown, code: SitePolicyErrorCode): SitePolicyError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'an error was expected').toBeInstanceOf(SitePolicyError);
  const err = caught as SitePolicyError;
  expect(err.code, err.message).toBe(code);
  return err;
}

/** The async form of {@link expectPolicyError}. */
export async function expectPolicyRejection(
  promise: Promise<unknown>,
  code: SitePolicyErrorCode,
): Promise<SitePolicyError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'a rejection was expected').toBeInstanceOf(SitePolicyError);
  const err = caught as SitePolicyError;
  expect(err.code, err.message).toBe(code);
  return err;
}
