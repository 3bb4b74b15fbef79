// Versions as vmcaster bumps them.
import { bumpVersion } from '@hepix/hepix-imagelist-schema';

/** The version after `previous` (its last run of digits + 1); `0.0.1` for none, or one without digits. */
export function nextVersion(previous: string | undefined): string {
  const base = previous?.trim() ? previous.trim() : '0.0.0';
  if (!/\d/.test(base)) return '0.0.1';
  return bumpVersion(base);
}
