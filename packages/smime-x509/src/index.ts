// Entry point. @peculiar/x509 needs the reflect-metadata polyfill loaded before it is used.
import 'reflect-metadata';

export {
  type CertificateInfo,
  certificateInfo,
  loadCertificate,
  loadCertificates,
  X509Certificate,
} from './cert.js';
export { canonicalDn, type DnInput, dnEquals, type FormatDnOptions, formatOnelineDn } from './dn.js';
export {
  type BadKeyReason,
  SMIME_ERROR_CODES,
  SMIME_WARNING_CODES,
  SmimeError,
  type SmimeErrorCode,
  type SmimeErrorDetails,
  type SmimeWarning,
  type SmimeWarningCode,
} from './errors.js';
export { isEncryptedPrivateKey, loadPrivateKey, type PrivateKey } from './keys.js';
export type { CrlMode } from './path.js';
export type { DigestName } from './sigalg.js';
export { type SignOptions, signSmime } from './sign.js';
export { type CertificatePolicies, TrustStore, type TrustStoreOptions } from './trust.js';
export { type VerifiedMessage, type VerifiedSigner, type VerifyOptions, verifySmime } from './verify.js';
