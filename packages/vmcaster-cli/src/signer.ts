// Loading the endorser's certificate and private key, asking for a passphrase only when the key needs one.
import { readFile } from 'node:fs/promises';
import { isEncryptedPrivateKey, loadCertificate, loadPrivateKey, SmimeError } from '@hepix/smime-x509';
import { VmcasterError } from './errors.js';
import type { Signer } from './publish.js';

export interface LoadSignerOptions {
  certificateFile: string;
  keyFile: string;
  /** Called only for an encrypted key. */
  passphrase?: () => Promise<string | undefined>;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new VmcasterError(
      'ERR_VMCASTER_CREDENTIALS',
      `cannot read the ${what} ${path}: ${(cause as Error).message}`,
      {
        subject: path,
        cause,
      },
    );
  }
}

/** Reads and decodes the signing certificate and key. Wrong passphrase → ERR_VMCASTER_PASSPHRASE. */
export async function loadSigner(options: LoadSignerOptions): Promise<Signer> {
  const certPem = await readPem(options.certificateFile, 'signing certificate');
  const keyPem = await readPem(options.keyFile, 'private key');
  let certificate: Awaited<ReturnType<typeof loadCertificate>>;
  try {
    certificate = await loadCertificate(certPem);
  } catch (cause) {
    throw new VmcasterError(
      'ERR_VMCASTER_CREDENTIALS',
      `${options.certificateFile} is not a PEM certificate: ${(cause as Error).message}`,
      { subject: options.certificateFile, cause },
    );
  }
  let passphrase: string | undefined;
  if (isEncryptedPrivateKey(keyPem)) {
    passphrase = await options.passphrase?.();
    if (passphrase === undefined)
      throw new VmcasterError(
        'ERR_VMCASTER_PASSPHRASE',
        `the private key ${options.keyFile} is encrypted and no passphrase was given (use a terminal, --passphrase-file or VMCASTER_X509_PASSPHRASE)`,
        { subject: options.keyFile },
      );
  }
  try {
    const privateKey = await loadPrivateKey(keyPem, passphrase);
    return { certificate, privateKey } as Signer;
  } catch (cause) {
    throw mapKeyError(cause, options.keyFile);
  }
}

/** Maps smime-x509 key errors onto the publisher's codes. */
export function mapKeyError(cause: unknown, keyFile: string): VmcasterError | unknown {
  if (cause instanceof SmimeError) {
    const reason = (cause as SmimeError & { reason?: string }).reason;
    if (cause.code === 'ERR_SMIME_BAD_KEY' && reason === 'passphrase')
      return new VmcasterError('ERR_VMCASTER_PASSPHRASE', `wrong passphrase for the private key ${keyFile}`, {
        subject: keyFile,
        cause,
      });
    if (cause.code === 'ERR_SMIME_BAD_KEY' && reason === 'mismatch')
      return new VmcasterError(
        'ERR_VMCASTER_KEY',
        `the private key ${keyFile} does not belong to the signing certificate`,
        { subject: keyFile, cause },
      );
    if (cause.code === 'ERR_SMIME_BAD_KEY' || cause.code === 'ERR_SMIME_KEY_USAGE')
      return new VmcasterError(
        'ERR_VMCASTER_KEY',
        `cannot use the private key ${keyFile}: ${cause.message}`,
        {
          subject: keyFile,
          cause,
        },
      );
  }
  return new VmcasterError(
    'ERR_VMCASTER_KEY',
    `cannot load the private key ${keyFile}: ${(cause as Error).message}`,
    {
      subject: keyFile,
      cause,
    },
  );
}
