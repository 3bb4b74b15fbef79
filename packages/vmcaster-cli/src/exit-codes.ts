// The one place where error codes become exit statuses. The numbers users scripted against in the original
// vmcaster (§4.5/§4.6 of the reference) are kept.
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  IMAGE_NO_URI: 13,
  IMAGELIST_INCOMPLETE: 20,
  UPLOAD_CONFIG_IMAGELIST: 21,
  DOWNLOAD: 22,
  CREDENTIALS: 23,
  KEY: 29,
  KEY_USAGE: 31,
  NO_DIGITAL_SIGNATURE: 32,
  VERIFY: 33,
  IMAGE_NOT_BOUND: 45,
  TRANSFER: 77,
  UPLOAD_CONFIG_IMAGE: 99,
  INTERRUPTED: 130,
} as const;

const byCode: Record<string, number> = {
  ERR_VMCASTER_USAGE: EXIT.USAGE,
  ERR_VMCASTER_CONFIG: EXIT.FAILURE,
  ERR_VMCASTER_NOT_FOUND: EXIT.NOT_FOUND,
  ERR_VMCASTER_CONFLICT: EXIT.CONFLICT,
  ERR_VMCASTER_IMAGE_NOT_BOUND: EXIT.IMAGE_NOT_BOUND,
  ERR_VMCASTER_IMAGE_NO_URI: EXIT.IMAGE_NO_URI,
  ERR_VMCASTER_FORMAT: EXIT.FAILURE,
  ERR_VMCASTER_COMPRESS: EXIT.FAILURE,
  ERR_VMCASTER_IMAGELIST_INVALID: EXIT.IMAGELIST_INCOMPLETE,
  ERR_VMCASTER_NO_URI: EXIT.IMAGELIST_INCOMPLETE,
  ERR_VMCASTER_ENDORSER_MISMATCH: EXIT.IMAGELIST_INCOMPLETE,
  ERR_VMCASTER_CREDENTIALS: EXIT.CREDENTIALS,
  ERR_VMCASTER_KEY: EXIT.KEY,
  ERR_VMCASTER_PASSPHRASE: EXIT.KEY,
  ERR_VMCASTER_KEY_USAGE: EXIT.KEY_USAGE,
  ERR_VMCASTER_NO_DIGITAL_SIGNATURE: EXIT.NO_DIGITAL_SIGNATURE,
  ERR_VMCASTER_DOWNLOAD: EXIT.DOWNLOAD,
  ERR_VMCASTER_VERIFY: EXIT.VERIFY,
  ERR_VMCASTER_UPLOAD: EXIT.TRANSFER,
};

/**
 * The exit status for an error. Upload configuration problems (no section for the host, bad target) are 99
 * for an image and 21 for an image list, as in the original.
 */
export function exitCodeFor(error: unknown, context: { action?: string } = {}): number {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') return EXIT.FAILURE;
  if (code === 'ERR_VMCASTER_UPLOAD_CONFIG' || /^ERR_UPLOAD_(CONFIG|NO_SECTION|TARGET|PROTOCOL)/.test(code))
    return context.action === 'upload-image' ? EXIT.UPLOAD_CONFIG_IMAGE : EXIT.UPLOAD_CONFIG_IMAGELIST;
  if (code.startsWith('ERR_UPLOAD_')) return EXIT.TRANSFER;
  if (code in byCode) return byCode[code];
  if (code.startsWith('ERR_STORE_'))
    return code === 'ERR_STORE_NOT_FOUND'
      ? EXIT.NOT_FOUND
      : code === 'ERR_STORE_CONFLICT'
        ? EXIT.CONFLICT
        : EXIT.FAILURE;
  return EXIT.FAILURE;
}
