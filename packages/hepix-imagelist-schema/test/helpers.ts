import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { ImageListValidationError, type ValidationIssue } from '../src/index.js';

/** The complete example list of reference §1.6, as text. */
export const exampleText = readFileSync(new URL('./fixtures/example-1.6.json', import.meta.url), 'utf8');

/** A fresh parsed copy of the §1.6 example. */
// biome-ignore lint/suspicious/noExplicitAny: tests edit parsed documents freely
export function example(): any {
  return JSON.parse(exampleText);
}

/** A valid image with the given index, for building big lists. */
export function makeImage(i: number): Record<string, unknown> {
  const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return {
    'dc:description': `Worker node image number ${i}`,
    'dc:identifier': id,
    'dc:title': `Image ${i}`,
    'hv:format': 'QCOW2',
    'hv:hypervisor': 'kvm',
    'hv:size': 2147483648 + i,
    'hv:uri': `https://example.org/images/${id}.qcow2`,
    'hv:version': `1.${i}`,
    'sl:arch': 'x86_64',
    'sl:checksum:sha512': (i.toString(16).padStart(8, '0') + 'ab').repeat(13).slice(0, 128),
    'sl:comments': 'generated',
    'sl:os': 'Linux',
    'sl:osversion': 'AlmaLinux 9',
  };
}

/** A valid list with `n` images. */
// biome-ignore lint/suspicious/noExplicitAny: tests edit parsed documents freely
export function makeList(n: number): any {
  const list = example();
  list['hv:imagelist']['hv:images'] = Array.from({ length: n }, (_, i) => ({ 'hv:image': makeImage(i) }));
  return list;
}

/** Runs `fn`, asserts it throws ImageListValidationError, and returns the error. */
export function invalid(fn: () => unknown): ImageListValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ImageListValidationError);
    expect((err as ImageListValidationError).code).toBe('ERR_IMAGELIST_INVALID');
    return err as ImageListValidationError;
  }
  throw new Error('expected ImageListValidationError, nothing was thrown');
}

export const paths = (issues: ValidationIssue[]) => issues.map((i) => i.path);
